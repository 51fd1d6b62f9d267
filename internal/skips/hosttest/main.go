// Command hosttest runs the host-side unit tests under the skip budget:
// 'go test -json' with the given arguments, its output printed as go test
// prints it, and a failure for any skip the allow-list does not name (or a
// listed skip of a host package that did not happen). 'make unit' runs it.
//
//	go run ./internal/skips/hosttest -list vmtest/testdata/allowed-skips.txt -- -count=1 ./pkg/...
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"

	"github.com/emptypidfd/emptypidfd/internal/skips"
)

// event is one line of 'go test -json' (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	listPath := flag.String("list", "", "the skip allow-list file")
	flag.Parse()
	if *listPath == "" {
		fmt.Fprintln(os.Stderr, "usage: hosttest -list FILE -- [go test arguments]")
		os.Exit(2)
	}
	list, err := skips.Load(*listPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(run(list, flag.Args()))
}

func run(list *skips.List, args []string) int {
	cmd := exec.Command("go", append([]string{"test", "-json"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "starting go test: %v\n", err)
		return 2
	}
	budget := &skips.Budget{List: list}
	var bad []string
	ran := map[string]bool{}    // packages that ran to their end
	held := map[string]string{} // output of running tests
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			// Build errors and the like come as plain text.
			fmt.Println(sc.Text())
			continue
		}
		pkg := path.Base(ev.Package)
		key := ev.Package + " " + ev.Test
		switch {
		case ev.Action == "output" && ev.Test != "":
			// A test's output is shown only if it fails, as go test
			// without -v does.
			held[key] += ev.Output
		case ev.Action == "output" && !strings.HasPrefix(ev.Output, "=== ") && ev.Output != "PASS\n":
			fmt.Print(ev.Output)
		case ev.Action == "fail" && ev.Test != "":
			fmt.Print(held[key])
			delete(held, key)
		case ev.Action == "pass" && ev.Test != "":
			delete(held, key)
		}
		switch {
		case ev.Action == "skip" && ev.Test != "":
			delete(held, key)
			v := budget.Judge(pkg + "/" + ev.Test)
			fmt.Printf("hosttest: skip %s/%s: %s\n", pkg, ev.Test, v.Message)
			if !v.OK {
				bad = append(bad, v.Message)
			}
		case (ev.Action == "pass" || ev.Action == "fail") && ev.Test == "":
			ran[pkg] = true
		}
	}
	werr := cmd.Wait()
	pkgs := make([]string, 0, len(ran))
	for p := range ran {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		for _, n := range budget.Stale(p) {
			bad = append(bad, fmt.Sprintf("%s lists %s, which did not skip: remove the entry", list.Source, n))
		}
	}
	for _, b := range bad {
		fmt.Printf("hosttest: FAIL: %s\n", b)
	}
	switch {
	case werr != nil:
		fmt.Printf("hosttest: go test failed: %v\n", werr)
		return 1
	case len(bad) > 0:
		return 1
	}
	return 0
}
