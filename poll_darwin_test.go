package selectors

func init() {
	noUrgent["poll"] = true // see pollBackendEvents
}
