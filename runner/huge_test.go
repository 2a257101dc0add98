package runner

import (
	"context"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"trialbook/kernel"
)

// TestOnePrintOfGigabytesStaysBounded prints 300 MB in one statement, which
// ipykernel sends as one stream message: the kernel client keeps
// MaxMessage of it, the notebook keeps the cell cap and its note, and the
// runner's live heap stays far below 300 MB.
func TestOnePrintOfGigabytesStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kernel")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	k, err := kernel.Start(ctx, testSpec(t), kernel.StartOptions{Dir: t.TempDir(), MaxMessage: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Shutdown(context.Background()) })
	nb := notebook("print('x' * 300_000_000)", "print('next cell')")
	path := filepath.Join(t.TempDir(), "huge.ipynb")

	growth := watchLiveHeap(10 * time.Millisecond)
	err = Run(ctx, k, nb, Options{Path: path, MaxOutputBytes: 2 << 20})
	grown := growth()
	if err != nil {
		t.Fatal(err)
	}
	kept, note := 0, ""
	for _, o := range nb.Cells[0].Outputs {
		if strings.Contains(o.Text, "[trialbook] output truncated") {
			note = o.Text
		} else {
			kept += len(o.Text)
		}
	}
	if kept > 2<<20 || kept < 1<<20 || note == "" {
		t.Errorf("kept %d bytes of output and the note %q, want most of the 2 MB cap and a note", kept, note)
	}
	if got := streamText(nb.Cells[1]); got != "next cell\n" {
		t.Errorf("next cell printed %q", got)
	}
	if s := k.Stats(); s.Truncated != 1 {
		t.Errorf("kernel stats %+v, want the one huge message truncated", s)
	}
	t.Logf("peak live heap growth while one print sent 300 MB: %.1f MB", float64(grown)/(1<<20))
	if grown > 48<<20 {
		t.Errorf("live heap grew by %.1f MB for one 300 MB message; want it bounded (< 48 MB)", float64(grown)/(1<<20))
	}
	validate(t, path)
}

// watchLiveHeap samples the live heap after each GC (runtime/metrics, not
// HeapInuse, which also counts garbage not yet collected) every interval
// until the returned function is called; that returns the peak growth over
// the heap at the start, in bytes.
func watchLiveHeap(every time.Duration) (stop func() int64) {
	runtime.GC()
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	base := live[0].Value.Uint64()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			metrics.Read(live)
			peak.Store(max(peak.Load(), live[0].Value.Uint64()))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return int64(peak.Load()) - int64(base)
	}
}
