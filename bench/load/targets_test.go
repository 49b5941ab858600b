package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseTargets(t *testing.T) {
	ts, err := parseTargets("127.0.0.1:1,127.0.0.1:2", "10,20", "rawepoll,ours")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].addr != "127.0.0.1:1" || ts[0].pid != 10 || ts[0].name != "rawepoll" ||
		ts[1].addr != "127.0.0.1:2" || ts[1].pid != 20 || ts[1].name != "ours" {
		t.Fatalf("got %+v %+v", *ts[0], *ts[1])
	}

	// One server, no name: the name is empty, as before lists.
	ts, err = parseTargets("127.0.0.1:1", "10", "")
	if err != nil || len(ts) != 1 || ts[0].name != "" || ts[0].pid != 10 {
		t.Fatalf("one server: %v, %v", ts, err)
	}

	// No -pid: left to checkFlags, which requires one.
	ts, err = parseTargets("127.0.0.1:1", "", "")
	if err != nil || ts[0].pid != 0 {
		t.Fatalf("no pid: %v, %v", ts, err)
	}
	if err := checkFlags(ts[0].addr, ts[0].pid, 1, 64, 0, time.Second, time.Second); err == nil {
		t.Fatal("checkFlags took pid 0")
	}

	for _, bad := range []struct{ addrs, pids, names, want string }{
		{"127.0.0.1:1,127.0.0.1:2", "10", "", "one of each per server"},
		{"127.0.0.1:1,127.0.0.1:2", "10,20", "ours", "one of each per server"},
		{"127.0.0.1:1", "ten", "", "not a process id"},
		{strings.Repeat("127.0.0.1:1,", 8) + "127.0.0.1:1", strings.Repeat("1,", 8) + "1", "", "8 servers at most"},
	} {
		_, err := parseTargets(bad.addrs, bad.pids, bad.names)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("parseTargets(%q, %q, %q) = %v, want an error saying %q", bad.addrs, bad.pids, bad.names, err, bad.want)
		}
	}
}
