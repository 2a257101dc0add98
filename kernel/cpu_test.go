package kernel

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// BenchmarkExecute times trivial round trips on a real kernel and reports
// the CPU the client itself spends per round trip.
func BenchmarkExecute(b *testing.B) {
	k := startKernel(b, StartOptions{})
	ctx := context.Background()
	opts := ExecuteOptions{OnMessage: func(*Message) {}}
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	b.ResetTimer()
	for b.Loop() {
		if _, err := k.Execute(ctx, "pass", opts); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	cpu := syscall.TimevalToNsec(r1.Utime) - syscall.TimevalToNsec(r0.Utime) + syscall.TimevalToNsec(r1.Stime) - syscall.TimevalToNsec(r0.Stime)
	b.ReportMetric(float64(time.Duration(cpu).Microseconds())/float64(b.N), "client-cpu-µs/op")
}
