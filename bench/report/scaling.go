package report

import (
	"fmt"
	"strings"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// scalingKey names a scaling ratio: a method's cell with more than one
// thread, compared with its own one-thread cell of the same caller size.
type scalingKey = ratioKey

// scaling returns, for every available cell with more than one thread
// whose method has an available one-thread cell of the same caller size,
// the aggregate throughput over that one-thread cell's, with its interval
// (the rounds paired by index, as the rounds of both cells ran in turn
// in the same boot). This is how well a method scales with the threads
// that spawn at once: N× would be perfect with N threads on N vCPUs.
func (g grid) scaling(bs results.Bootstrap) map[scalingKey]results.Interval {
	out := map[scalingKey]results.Interval{}
	for _, k := range g.keys {
		if k.threads <= 1 {
			continue
		}
		for _, id := range g.methods {
			c, ok := g.cells[k][id]
			if !ok || !c.Available {
				continue
			}
			one, ok := g.cells[key{k.rss, 1}][id]
			if !ok || !one.Available || one.SpawnsPerSec <= 0 {
				continue
			}
			iv := noCI(c.SpawnsPerSec / one.SpawnsPerSec)
			if b, err := bs.RateRatio(c.RepSpawnsPerSec, one.RepSpawnsPerSec, streamOf(ratioKey{k, "scaling/" + id})); err == nil {
				iv = b
			}
			out[scalingKey{k, id}] = iv
		}
	}
	return out
}

// scalingTable writes the scaling of the methods (grid.scaling), a row
// per caller size and thread count above one; nothing when no method
// has such a pair of cells.
func (r *Report) scalingTable(b *strings.Builder, methods []string) {
	var rows []key
	for _, k := range r.g.keys {
		for _, id := range methods {
			if _, ok := r.scale[scalingKey{k, id}]; ok {
				rows = append(rows, k)
				break
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	if r.counted {
		b.WriteString("\n**Scaling** is not shown: in a counted run the vCPUs run in turn, so more threads cannot " +
			"spawn more per instruction.\n")
		return
	}
	fmt.Fprintf(b, "\n**Scaling**: the aggregate throughput of N threads over the same method's with one thread and "+
		"the same caller (N× would be perfect on N vCPUs), with its 95%% interval (the rounds paired, one level); a "+
		"method that scales as %s does loses nothing to spawns made at once:\n\n", shortLabel(baselineOf(methods[0])))
	methodsHeader(b, methods)
	for _, k := range rows {
		fmt.Fprintf(b, "| %s | %d |", Size(k.rss), k.threads)
		for _, id := range methods {
			iv, ok := r.scale[scalingKey{k, id}]
			if !ok {
				b.WriteString(" — |")
				continue
			}
			fmt.Fprintf(b, " %s%s |", Ratio(iv.Point), intervalSuffix(iv))
		}
		b.WriteString("\n")
	}
}
