package echotest

import (
	"os"
	"path/filepath"
)

// Under Wine there is no Windows go command for Binary to run: CI builds
// the examples beforehand and names their directory in ECHOTEST_BIN_DIR,
// which holds echo-server.exe and echo-client.exe.
func init() {
	dir := os.Getenv("ECHOTEST_BIN_DIR")
	if dir == "" {
		return
	}
	for _, pkg := range []string{ServerPkg, ClientPkg} {
		binaries[pkg] = filepath.Join(dir, filepath.Base(pkg)+".exe")
	}
}
