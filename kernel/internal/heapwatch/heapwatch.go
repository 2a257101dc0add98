// Package heapwatch samples the Go heap for the kernel packages' tests of
// bounded memory.
package heapwatch

import (
	"runtime"
	"sync"
	"time"
)

// Peak samples the heap in use (runtime.MemStats.HeapInuse) every 5 ms
// until stop is called, which returns the highest sample.
func Peak() (stop func() uint64) {
	var (
		peak uint64
		wg   sync.WaitGroup
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}
