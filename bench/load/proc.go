package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTick is the unit of the times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 on every architecture Go runs on
// (sysconf(_SC_CLK_TCK) returns it; Go has no sysconf without cgo).
const clockTick = 100

// cpuTime is a process's CPU time so far.
type cpuTime struct {
	user, sys int64 // clock ticks, every thread, the dead ones too
	schedNs   int64 // nanoseconds on CPU, the live threads
	comm      string
}

// readCPU reads the CPU time of process pid from /proc.
func readCPU(pid int) (cpuTime, error) {
	var t cpuTime
	dir := fmt.Sprintf("/proc/%d", pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return t, fmt.Errorf("server's CPU time: %w", err)
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses,
	// so the fields are counted from the last ')'.
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return t, fmt.Errorf("%s/stat: cannot parse %q", dir, stat)
	}
	t.comm = string(stat[open+1 : end])
	fields := strings.Fields(string(stat[end+1:]))
	// Field 3 (state) is fields[0], so utime and stime, fields 14 and
	// 15 of proc(5), are fields[11] and fields[12].
	if len(fields) < 13 {
		return t, fmt.Errorf("%s/stat: too few fields", dir)
	}
	if t.user, err = strconv.ParseInt(fields[11], 10, 64); err != nil {
		return t, fmt.Errorf("%s/stat utime: %w", dir, err)
	}
	if t.sys, err = strconv.ParseInt(fields[12], 10, 64); err != nil {
		return t, fmt.Errorf("%s/stat stime: %w", dir, err)
	}

	tasks, err := filepath.Glob(dir + "/task/*/schedstat")
	if err != nil || len(tasks) == 0 {
		return t, fmt.Errorf("%s/task/*/schedstat: none found", dir)
	}
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // a thread that exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return t, fmt.Errorf("%s: %w", path, err)
		}
		t.schedNs += ns
	}
	return t, nil
}
