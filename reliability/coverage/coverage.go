// Package coverage measures how much of the kernel series' own code a run
// of the suite reached. The kernel's gcov counters (CONFIG_GCOV_KERNEL, for
// the objects of the files the series changes) come out of the guest after
// the last test; gcov turns each object's counters into JSON; this package
// keeps, of each file, the lines the series adds (from git diff -U0), and
// names those never reached, the error returns among them first.
package coverage

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Added maps a file the series changes (a path in the kernel tree) to the
// numbers of the lines it adds, in the new file, with their text.
type Added map[string]map[int]string

// A Diff is what the series changes in C files, from git diff.
type Diff struct {
	Added Added
	// Funcs holds the functions whose body the series adds a line to,
	// by the name their symbol has (SYSCALL_DEFINEn(name, ...) gives
	// __do_sys_name, __se_sys_name and __x64_sys_name). It is complete
	// only for a diff with whole functions as context (git diff -W).
	Funcs map[string]bool
}

// A function definition's first line in kernel style: at column 0, not a
// declaration, with the name before the first parenthesis.
var (
	defRe     = regexp.MustCompile(`^(?:[A-Za-z_][^;=]*?\b)?([A-Za-z_][A-Za-z0-9_]*)\(([A-Za-z_][A-Za-z0-9_]*)?`)
	syscallRe = regexp.MustCompile(`^(COMPAT_)?SYSCALL_DEFINE\d$`)
)

// ParseDiff reads `git diff` output (-U0, or -W for Funcs) and returns the
// lines and functions the series adds to. A function counts as changed
// when a line of it (its definition included) is added or removed.
func ParseDiff(r io.Reader) (*Diff, error) {
	d := &Diff{Added: Added{}, Funcs: map[string]bool{}}
	var file, cand, fn string
	inHeader := false // between "diff --git" and the first hunk
	changed := false  // the function being read has an added or removed line
	next := 0         // the new file's number of the next '+' or ' ' line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "diff --git ") {
			file, cand, fn, inHeader, changed = "", "", "", true, false
			continue
		}
		if inHeader && strings.HasPrefix(line, "+++ ") {
			file = strings.TrimPrefix(strings.TrimPrefix(line, "+++ "), "b/")
			if file == "/dev/null" {
				file = ""
			}
			continue
		}
		if strings.HasPrefix(line, "@@ ") {
			n, err := hunkStart(line)
			if err != nil {
				return nil, err
			}
			next, cand, fn, inHeader, changed = n, "", "", false, false
			continue
		}
		if inHeader || file == "" {
			continue
		}
		// A blank context line may come without its space
		// (diff.suppressBlankEmpty).
		if line == "" {
			line = " "
		}
		op, text := line[0], line[1:]
		switch op {
		case '-':
			if fn != "" || cand != "" {
				changed = true
			}
			continue
		case '+', ' ':
		default: // "\ No newline at end of file"
			continue
		}
		if op == '+' {
			if d.Added[file] == nil {
				d.Added[file] = map[int]string{}
			}
			d.Added[file][next] = text
			if fn != "" || cand != "" {
				changed = true
			}
		}
		next++
		switch {
		case text == "{" && cand != "":
			fn = cand
		case text == "}":
			if fn != "" && changed {
				d.addFunc(fn)
			}
			fn, cand, changed = "", "", false
		case fn == "":
			if m := defRe.FindStringSubmatch(text); m != nil && !strings.HasSuffix(strings.TrimSpace(text), ";") {
				cand, changed = m[1], op == '+'
				if syscallRe.MatchString(cand) && m[2] != "" {
					cand = syscallMark + m[2]
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("coverage: reading the diff: %w", err)
	}
	return d, nil
}

// syscallMark marks a SYSCALL_DEFINEn's name among the candidates: not a
// C identifier, so no function's own name.
const syscallMark = "syscall:"

func (d *Diff) addFunc(name string) {
	if sys, ok := strings.CutPrefix(name, syscallMark); ok {
		for _, p := range []string{"__do_sys_", "__se_sys_", "__x64_sys_", "__ia32_sys_"} {
			d.Funcs[p+sys] = true
		}
		return
	}
	d.Funcs[name] = true
}

// hunkRe matches a hunk header's new-file range: "@@ -a[,b] +c[,d] @@".
var hunkRe = regexp.MustCompile(`^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@`)

func hunkStart(header string) (int, error) {
	m := hunkRe.FindStringSubmatch(header)
	if m == nil {
		return 0, fmt.Errorf("coverage: not a hunk header: %q", header)
	}
	return strconv.Atoi(m[1])
}

// A Line is one instrumented line of a source file, as gcov counted it.
type Line struct {
	N        int    // line number
	Func     string // the function it is in
	Count    int64  // how often its most executed block ran
	Partial  bool   // reached, but some block on it was not
	Branches int    // branch outcomes on the line
	Taken    int    // of those, how many were taken at least once
}

// gcovFile is the part of gcov's JSON format (gcov -j, format_version 1)
// read here.
type gcovFile struct {
	File  string `json:"file"`
	Lines []struct {
		LineNumber      int    `json:"line_number"`
		FunctionName    string `json:"function_name"`
		Count           int64  `json:"count"`
		UnexecutedBlock bool   `json:"unexecuted_block"`
		Branches        []struct {
			Count int64 `json:"count"`
		} `json:"branches"`
	} `json:"lines"`
}

// ParseGcovJSON reads one gcov JSON document (gzip-compressed, as gcov -j
// writes it, or plain) and returns the lines of the source files whose
// name ends with source, a path in the tree (the object's own .c file, not the headers it
// inlines), keyed by line number. A line counted in several entries (a
// function inlined twice) keeps its highest count.
func ParseGcovJSON(r io.Reader, source string) (map[int]Line, error) {
	br := bufio.NewReader(r)
	var in io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("coverage: gcov JSON: %w", err)
		}
		defer z.Close()
		in = z
	}
	var doc struct {
		FormatVersion string     `json:"format_version"`
		Files         []gcovFile `json:"files"`
	}
	if err := json.NewDecoder(in).Decode(&doc); err != nil {
		return nil, fmt.Errorf("coverage: gcov JSON: %w", err)
	}
	// gcc 12 writes format 1, gcc 14 format 2; the fields read here are
	// in both.
	if doc.FormatVersion != "1" && doc.FormatVersion != "2" {
		return nil, fmt.Errorf("coverage: gcov JSON format_version %q, want \"1\" or \"2\"", doc.FormatVersion)
	}
	lines := map[int]Line{}
	for _, f := range doc.Files {
		// Absolute, relative to the build, or (when the compiler ran in
		// the source's own directory) its name alone.
		if f.File != source && !strings.HasSuffix(f.File, "/"+source) && f.File != path.Base(source) {
			continue
		}
		for _, l := range f.Lines {
			taken := 0
			for _, b := range l.Branches {
				if b.Count > 0 {
					taken++
				}
			}
			cur, seen := lines[l.LineNumber]
			if seen && cur.Count >= l.Count {
				continue
			}
			lines[l.LineNumber] = Line{
				N: l.LineNumber, Func: l.FunctionName, Count: l.Count,
				Partial: l.UnexecutedBlock, Branches: len(l.Branches), Taken: taken,
			}
		}
	}
	return lines, nil
}

// errorReturnRe matches a line of an error path: one that returns or sets
// a negative errno ("return -EINVAL;", "err = -EPERM;", "return busy ?
// -EBUSY : -ESRCH;") or an error pointer ("return ERR_PTR(-ENOMEM);",
// "return PTR_ERR(file);", "return ERR_CAST(pid);"). A goto to a cleanup
// label is not one: the label's code is counted where it is.
var errorReturnRe = regexp.MustCompile(`\breturn\b[^;]*-E[A-Z0-9]+\b|\breturn\s+(ERR_PTR|PTR_ERR|ERR_CAST)\(|=\s*-E[A-Z0-9]+\s*;`)

// IsErrorPath reports whether a source line is an error return.
func IsErrorPath(text string) bool {
	return errorReturnRe.MatchString(text)
}

// A SeriesLine is a line the series adds that gcov instruments.
type SeriesLine struct {
	Line
	Text string
}

// FileReport is the coverage of one file's added lines.
type FileReport struct {
	Path     string
	Counters bool         // the run produced counters for it
	Added    int          // lines the series adds
	Lines    []SeriesLine // of those, the instrumented ones, in order
	Errors   []ErrorPath  // of those, the error returns, in order
}

// An ErrorPath is an added error return, and whether the run reached it.
// At -O2 most "return -EINVAL;" lines have no code of their own (the
// constant joins a common return), so no counter: such a line counts as
// reached when the condition guarding it (the nearest counted line
// above, within guardWithin lines) took every outcome of its branches,
// and as not shown reached otherwise.
type ErrorPath struct {
	N       int
	Func    string
	Text    string
	Reached bool
	How     string // "own counter", "guard at line N: k/m branch outcomes taken", ...
}

// assignRe matches an error path that sets an errno to return later.
var assignRe = regexp.MustCompile(`=\s*-E[A-Z0-9]+\s*;`)

// guardWithin is how far above an error return without a counter its
// guarding condition may be ("if (x)\n\t\treturn -EINVAL;", or a
// condition over two or three lines).
const guardWithin = 4

// Report keeps, of lines (gcov's, for path), those that added names, and
// judges the added error returns.
func Report(path string, added map[int]string, lines map[int]Line, counters bool) FileReport {
	r := FileReport{Path: path, Counters: counters, Added: len(added)}
	for _, n := range slices.Sorted(maps.Keys(lines)) {
		if text, ok := added[n]; ok {
			r.Lines = append(r.Lines, SeriesLine{Line: lines[n], Text: text})
		}
	}
	for _, n := range slices.Sorted(maps.Keys(added)) {
		text := added[n]
		if !IsErrorPath(text) {
			continue
		}
		e := ErrorPath{N: n, Text: text}
		if l, ok := lines[n]; ok {
			e.Func, e.Reached = l.Func, l.Count > 0
			e.How = fmt.Sprintf("own counter: %d", l.Count)
			r.Errors = append(r.Errors, e)
			continue
		}
		e.How = "no counter, and no counted line above it"
		assign := assignRe.MatchString(text)
		for k := n - 1; k >= n-guardWithin && k > 0; k-- {
			g, ok := lines[k]
			if !ok {
				continue
			}
			e.Func = g.Func
			switch {
			case g.Count == 0:
				e.How = fmt.Sprintf("the line above (%d) never ran", k)
			case g.Branches > 0:
				e.Reached = g.Taken == g.Branches
				e.How = fmt.Sprintf("guard at line %d: %d/%d branch outcomes taken", k, g.Taken, g.Branches)
			case assign:
				// "err = -EINVAL;" in straight-line code: it runs
				// when the line above does.
				e.Reached = true
				e.How = fmt.Sprintf("straight-line code after line %d, which ran", k)
			default:
				// A return after a counted line without branches:
				// the rest of a condition over several lines.
				e.How = fmt.Sprintf("line %d above ran %d times, without branches to tell", k, g.Count)
				continue
			}
			break
		}
		r.Errors = append(r.Errors, e)
	}
	return r
}

// Reached counts the instrumented lines that ran.
func (r FileReport) Reached() (reached, total int) {
	for _, l := range r.Lines {
		if l.Count > 0 {
			reached++
		}
	}
	return reached, len(r.Lines)
}

// BranchesTaken counts branch outcomes taken, of all on the added lines.
func (r FileReport) BranchesTaken() (taken, total int) {
	for _, l := range r.Lines {
		taken += l.Taken
		total += l.Branches
	}
	return taken, total
}

// Unreached returns the instrumented added lines that never ran, but the
// error returns (Errors judges those).
func (r FileReport) Unreached() []SeriesLine {
	var out []SeriesLine
	for _, l := range r.Lines {
		if l.Count == 0 && !IsErrorPath(l.Text) {
			out = append(out, l)
		}
	}
	return out
}
