// Command initprobe links package strength and does nothing with it, so
// that TestNoInitWork can read, with GODEBUG=inittrace=1, which packages
// run initialisation code in a program that merely links strength.
package main

import (
	"fmt"

	"github.com/keyhold/keyhold/internal/strength"
)

func main() { fmt.Println(strength.MinScore) }
