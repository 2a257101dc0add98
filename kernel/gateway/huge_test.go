package gateway

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"trialbook/kernel"
	"trialbook/kernel/internal/heapwatch"
)

// streams runs code and returns the stream messages it printed.
func streams(t *testing.T, k *kernel.Kernel, code string) []*kernel.Stream {
	t.Helper()
	var out []*kernel.Stream
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	rep, err := k.Execute(ctx, code, kernel.ExecuteOptions{OnMessage: func(m *kernel.Message) {
		if s, ok := m.Content.(*kernel.Stream); ok {
			out = append(out, s)
		}
	}})
	if err != nil || rep.Status != "ok" {
		t.Fatalf("execute %q: %v %+v", code, err, rep)
	}
	return out
}

// Messages over StartOptions.MaxMessage through a real Jupyter Server are
// cut as the ZeroMQ channels cut them, with memory bounded by the limit;
// messages up to it arrive whole.
func TestJupyterServerHugeMessages(t *testing.T) {
	const limit = 4 << 20
	// By default the server drops stream output over 1 MB/s and says so
	// instead; off, huge output reaches the client as the kernel sent it.
	c := startServer(t, "--ZMQChannelsWebsocketConnection.iopub_data_rate_limit=0")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	k, err := c.StartKernel(ctx, "python3", kernel.StartOptions{MaxMessage: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := k.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()

	t.Run("at the limit", func(t *testing.T) {
		// Text with escapes and characters the server writes as \u
		// escapes, padded so the content the server sends is exactly the
		// limit; then one byte more.
		base := "héllo \"quoted\" \\ tab\t 🎉 line\n"
		out := streams(t, k, fmt.Sprintf("import json, sys\ns = %q * 1000\npad = %d - len(json.dumps({'name': 'stdout', 'text': s}))\nprint(pad)", base, limit))
		if len(out) != 1 {
			t.Fatalf("%d stream messages", len(out))
		}
		pad, err := strconv.Atoi(strings.TrimSpace(out[0].Text))
		if err != nil || pad < 1000 {
			t.Fatalf("pad %q: %v", out[0].Text, err)
		}
		want := strings.Repeat(base, 1000) + strings.Repeat("y", pad)
		if n := len(streamContent("stdout", want)); n != limit {
			t.Fatalf("the content would be %d bytes, want %d", n, limit)
		}
		before := k.Stats().Truncated
		out = streams(t, k, "s += 'y' * pad\nsys.stdout.write(s)\nsys.stdout.flush()")
		if len(out) != 1 || out[0].Name != "stdout" || out[0].Text != want {
			t.Fatalf("%d stream messages, want one with the %d bytes of text whole", len(out), len(want))
		}
		out = streams(t, k, "sys.stdout.write(s + 'y')\nsys.stdout.flush()")
		// All the text fits; the closing brace of the content does not.
		if len(out) != 1 || !strings.HasPrefix(out[0].Text, want+"y\n[... 1 bytes dropped by trialbook: a stream message of") {
			t.Errorf("one byte over: %d messages, text ending %q", len(out), out[0].Text[max(0, len(out[0].Text)-200):])
		}
		if got := k.Stats().Truncated - before; got != 1 {
			t.Errorf("Truncated grew by %d, want 1", got)
		}
	})

	t.Run("huge print", func(t *testing.T) {
		const size = 300_000_000
		before := k.Stats().Truncated
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		stop := heapwatch.Peak()
		var (
			xs   int
			tail string
		)
		rep, err := k.Execute(ctx, "import sys\nprint('x' * 300_000_000)\nsys.stdout.flush()\nprint('after')", kernel.ExecuteOptions{OnMessage: func(m *kernel.Message) {
			if s, ok := m.Content.(*kernel.Stream); ok {
				xs += strings.Count(s.Text, "x")
				tail = (tail + s.Text[max(0, len(s.Text)-400):])[max(0, len(tail)+min(len(s.Text), 400)-400):]
			}
		}})
		peak := stop()
		if err != nil || rep.Status != "ok" {
			t.Fatalf("err %v reply %+v", err, rep)
		}
		if !strings.Contains(tail, "bytes dropped by trialbook: a stream message of 300000") || !strings.HasSuffix(tail, "]\nafter\n") {
			t.Errorf("want the note and then the later output, got the tail %q", tail)
		}
		if xs < limit/2 || xs > limit {
			t.Errorf("delivered %d x's of %d, want at most the %d-byte limit and most of it", xs, size, limit)
		}
		if got := k.Stats().Truncated - before; got != 1 {
			t.Errorf("Truncated grew by %d, want 1", got)
		}
		grew := int64(peak) - int64(ms.HeapInuse)
		t.Logf("heap in use: %d MiB before, peak %d MiB while a %d MB message arrived", ms.HeapInuse>>20, peak>>20, size/1_000_000)
		if grew > 3*limit+8<<20 {
			t.Errorf("heap grew by %d MiB for a %d MB message cut at %d MiB", grew>>20, size/1_000_000, limit>>20)
		}
	})

	t.Run("result over the limit", func(t *testing.T) {
		before := k.Stats().Truncated
		out := streams(t, k, "'z' * 5_000_000")
		if len(out) != 1 || out[0].Name != "stderr" || !strings.HasPrefix(out[0].Text, "[trialbook dropped the content of a execute_result message: 5000") {
			t.Errorf("want a note in place of the result, got %+v", out)
		}
		if got := k.Stats().Truncated - before; got != 1 {
			t.Errorf("Truncated grew by %d, want 1", got)
		}
	})

	t.Run("buffers", func(t *testing.T) {
		// Messages with buffers come as binary frames.
		var (
			opens []*kernel.Message
			out   []string
		)
		rep, err := k.Execute(ctx, "from comm import create_comm\n"+
			"a = create_comm(target_name='trialbook-test', data={'n': 1}, buffers=[b'abc', bytes(range(256)) * 4])\n"+
			"b = create_comm(target_name='trialbook-test', data={'n': 2}, buffers=[b'x' * 5_000_000])\n",
			kernel.ExecuteOptions{OnMessage: func(m *kernel.Message) {
				switch c := m.Content.(type) {
				case *kernel.Stream:
					out = append(out, c.Text)
				default:
					if m.Type() == "comm_open" {
						opens = append(opens, m)
					}
				}
			}})
		if err != nil || rep.Status != "ok" {
			t.Fatalf("err %v reply %+v", err, rep)
		}
		if len(opens) != 1 || len(opens[0].Buffers) != 2 || string(opens[0].Buffers[0]) != "abc" ||
			!bytes.Equal(opens[0].Buffers[1], bytes.Repeat(func() []byte {
				b := make([]byte, 256)
				for i := range b {
					b[i] = byte(i)
				}
				return b
			}(), 4)) || !strings.Contains(string(opens[0].RawContent), `"n": 1`) {
			t.Errorf("want the small comm_open whole with its buffers, got %d comm_open", len(opens))
		}
		if len(out) != 1 || !strings.HasPrefix(out[0], "[trialbook dropped the content of a comm_open message: 5000000 bytes") {
			t.Errorf("want a note for the comm_open over the limit, got %q", out)
		}
	})

	t.Run("still usable", func(t *testing.T) {
		if rep, out := execute(t, k, "print('still here')", kernel.ExecuteOptions{}); rep.Status != "ok" || out != "still here\n" {
			t.Errorf("%q %q", rep.Status, out)
		}
	})
}
