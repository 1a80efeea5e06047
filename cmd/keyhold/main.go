// Command keyhold is the Keyhold password manager's command-line client.
// See docs/CLI.md, or run keyhold help.
package main

import (
	"os"

	"github.com/keyhold/keyhold/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
