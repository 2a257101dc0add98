package kernel

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"trialbook/kernel/internal/heapwatch"
)

// One print of 300 MB without a flush reaches trialbook as a single stream
// message of 300 MB; the client keeps MaxMessage of it, checks the
// signature over all of it, and its heap stays far below the message.
func TestHugeMessageBoundedMemory(t *testing.T) {
	const (
		size  = 300_000_000
		limit = 4 << 20
	)
	k := startKernel(t, StartOptions{MaxMessage: limit})
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := heapwatch.Peak()
	var (
		xs   int
		tail string
	)
	rep, err := k.Execute(ctx, "import sys\nprint('x' * 300_000_000)\nsys.stdout.flush()\nprint('after')", ExecuteOptions{OnMessage: func(m *Message) {
		if s, ok := m.Content.(*Stream); ok {
			xs += strings.Count(s.Text, "x")
			if len(s.Text) >= 400 {
				tail = s.Text[len(s.Text)-400:]
			} else {
				tail += s.Text
			}
		}
	}})
	peak := stop()
	if err != nil || rep.Status != "ok" {
		t.Fatalf("err %v reply %+v", err, rep)
	}
	// Text printed after the cut in the same message is lost with it; a
	// later message arrives.
	if !strings.Contains(tail, "bytes dropped by trialbook") || !strings.HasSuffix(tail, "]\nafter\n") {
		t.Errorf("want the note and then the later output, got the tail %q", tail)
	}
	if xs < limit/2 || xs > limit {
		t.Errorf("delivered %d x's of %d, want at most the %d-byte limit and most of it", xs, size, limit)
	}
	if s := k.Stats(); s.Truncated < 1 || s.BadSignature != 0 || s.Malformed != 0 {
		t.Errorf("stats %+v, want a truncated message and nothing dropped", s)
	}
	grew := int64(peak) - int64(before.HeapInuse)
	t.Logf("heap in use: %d MiB before, peak %d MiB while a %d MB message arrived", before.HeapInuse>>20, peak>>20, size/1_000_000)
	if grew > 3*limit+8<<20 {
		t.Errorf("heap grew by %d MiB for a %d MB message cut at %d MiB", grew>>20, size/1_000_000, limit>>20)
	}
	// The kernel and the connection are fine afterwards.
	if _, c := run(t, k, "print('still here')", ExecuteOptions{}); c.stdout.String() != "still here\n" {
		t.Errorf("after the huge message: %q", c.stdout.String())
	}
}
