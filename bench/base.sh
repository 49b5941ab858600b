# Sourced by run.sh and callgrind.sh, which define die: BASE, a revision of
# this repository whose server "ours" is built as server "base": its
# bench/servers/ours, or before that server existed its
# examples/echo-server, which the comparison measured as ours then.

# check_base REV ROOT fails unless REV is a commit of the repository at ROOT.
check_base() {
	command -v git >/dev/null || die "BASE needs git"
	git -C "$2" rev-parse --verify --quiet "$1^{commit}" >/dev/null ||
		die "BASE=$1: not a revision of this repository"
}

# build_base REV ROOT BIN SRC builds REV's server "ours" as BIN/base, from
# its files extracted into SRC, an empty directory the caller removes.
build_base() {
	check_base "$1" "$2"
	git -C "$2" archive "$1" | tar -x -C "$4"
	if [[ -d $4/bench/servers/ours ]]; then
		(cd "$4/bench" && go build -o "$3/base" ./servers/ours) ||
			die "BASE=$1: bench/servers/ours does not build"
	else
		(cd "$4" && go build -o "$3/base" ./examples/echo-server) ||
			die "BASE=$1: examples/echo-server does not build"
	fi
}
