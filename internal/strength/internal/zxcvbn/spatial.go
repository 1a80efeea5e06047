// Ported from zxcvbn 4.4.2 (https://github.com/dropbox/zxcvbn),
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc., MIT licence,
// by way of its Go port github.com/trustelem/zxcvbn v1.0.1,
// Copyright (c) 2018 Vincent Vanackere and Trustelem, MIT licence.
// See THIRD_PARTY.md at the repository root.

package zxcvbn

import (
	"strings"

	"github.com/trustelem/zxcvbn/match"
)

// graph is a keyboard adjacency graph. adj[c] lists, for the key that types
// ASCII character c, the keys next to it in a fixed order of directions ("" where
// there is none); each neighbour is its unshifted character followed by its
// shifted one, if any. adj is nil for characters not on the keyboard.
//
// The graphs themselves are generated (adjacency_graphs.go) as constant
// data, so that they cost nothing at start-up.
type graph struct {
	name string
	// keys is how many characters the graph has (both shifted and not).
	keys int
	// avgDegree is the average number of neighbours of a key.
	avgDegree float64
	adj       [128][]string
}

// spatialGraphs are the graphs tried by spatialMatches, in order.
var spatialGraphs = [...]*graph{&qwertyGraph, &dvorakGraph, &keypadGraph, &macKeypadGraph}

// shiftedChars are the characters typed with shift on qwerty and dvorak.
const shiftedChars = `~!@#$%^&*()_+QWERTYUIOP{}|ASDFGHJKL:"ZXCVBNM<>?`

// spatialMatches finds keyboard walks such as "qwerty", "zxcvbn" or "7531".
func spatialMatches(password string) []*match.Match {
	var matches []*match.Match
	for _, g := range spatialGraphs {
		matches = append(matches, spatialMatchHelper(password, g)...)
	}
	match.Sort(matches)
	return matches
}

// spatialMatchHelper walks password a byte at a time, as trustelem's port
// does; only ASCII characters are on the graphs.
func spatialMatchHelper(password string, g *graph) []*match.Match {
	var matches []*match.Match
	hasShift := g.name == "qwerty" || g.name == "dvorak"
	shifted := func(c byte) bool {
		return hasShift && c < 0x80 && strings.IndexByte(shiftedChars, c) >= 0
	}
	i := 0
	for i < len(password)-1 {
		j := i + 1
		lastDirection := -99
		turns := 0
		shiftedCount := 0
		if shifted(password[i]) {
			shiftedCount = 1
		}
		for {
			found := false
			// Consider growing the pattern by one character if j hasn't
			// gone over the edge.
			if prev := password[j-1]; j < len(password) && prev < 0x80 {
				cur := password[j]
				for direction, adj := range g.adj[prev] {
					idx := -1
					if cur < 0x80 {
						idx = strings.IndexByte(adj, cur)
					}
					if idx == -1 {
						continue
					}
					found = true
					if idx == 1 {
						// Index 1 in an adjacency entry is the shifted
						// character: '@' in "2@".
						shiftedCount++
					}
					if lastDirection != direction {
						// Every spatial pattern starts with a turn.
						turns++
						lastDirection = direction
					}
					break
				}
			}
			if found {
				j++
				continue
			}
			// Otherwise keep the pattern found so far, if it is longer than
			// two characters, and start again from where it stopped.
			if j-i > 2 {
				matches = append(matches, &match.Match{
					Pattern:      "spatial",
					I:            i,
					J:            j - 1,
					Token:        password[i:j],
					Graph:        g.name,
					Turns:        turns,
					ShiftedCount: shiftedCount,
				})
			}
			i = j
			break
		}
	}
	return matches
}
