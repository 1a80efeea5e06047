package origin_test

import (
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/origin"
)

func ExampleMatch() {
	page, err := origin.Parse("https://login.example.com/session?next=/")
	if err != nil {
		panic(err)
	}
	fmt.Println(origin.Match("www.example.com", page, origin.ModeDomain))
	fmt.Println(origin.Match("www.example.com", page, origin.ModeHost))
	fmt.Println(origin.Match("https://login.example.com/", page, origin.ModeHost))
	fmt.Println(origin.Match("https://login.example.com.evil.test", page, origin.ModeDomain))
	// Output:
	// domain
	// none
	// host
	// none
}

func ExampleParse() {
	for _, s := range []string{"HTTPS://Bücher.example:443/login", "data:text/html,<form>", "null"} {
		o, err := origin.Parse(s)
		var nf *origin.NotFillableError
		if errors.As(err, &nf) {
			fmt.Println("refused:", nf.Reason)
			continue
		}
		fmt.Println(o, "shown as", o.Display())
	}
	// Output:
	// https://xn--bcher-kva.example shown as https://bücher.example (xn--bcher-kva.example)
	// refused: a data: page has no web origin of its own
	// refused: the page has no origin of its own (an opaque or sandboxed frame)
}
