package kernel

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Pool keeps kernels started in the background so that a trial gets a ready
// kernel without waiting for Python to start.
type Pool struct {
	spec    *Spec
	optsFor func(i int) StartOptions

	ctx    context.Context
	cancel context.CancelFunc

	results chan startResult
	wg      sync.WaitGroup

	mu     sync.Mutex
	next   int // how many starts so far; the i of the next
	closed bool
}

type startResult struct {
	k   *Kernel
	err error
}

// ErrPoolClosed is returned by Get after Close.
var ErrPoolClosed = errors.New("kernel: pool closed")

// NewPool starts size kernels from spec in the background and keeps size
// kernels ready or starting until Close. ctx bounds the pool's life.
func NewPool(ctx context.Context, spec *Spec, size int, opts StartOptions) *Pool {
	return NewPoolFunc(ctx, spec, size, func(int) StartOptions { return opts })
}

// NewPoolFunc is NewPool with options per kernel: optsFor(i) for the i-th
// kernel the pool starts (0, 1, 2, ...), e.g. to give each its own GPU with
// Env{"CUDA_VISIBLE_DEVICES": strconv.Itoa(i % gpus)}.
func NewPoolFunc(ctx context.Context, spec *Spec, size int, optsFor func(i int) StartOptions) *Pool {
	if size < 1 {
		size = 1
	}
	p := &Pool{spec: spec, optsFor: optsFor, results: make(chan startResult, size)}
	p.ctx, p.cancel = context.WithCancel(ctx)
	for range size {
		p.startOne()
	}
	return p
}

func (p *Pool) startOne() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	i := p.next
	p.next++
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		k, err := Start(p.ctx, p.spec, p.optsFor(i))
		// results has room for every start in flight: at most size.
		p.results <- startResult{k, err}
	}()
}

// Get returns a ready kernel, waiting for one if none is ready yet, and
// starts its replacement. A kernel that died while waiting in the pool is
// discarded. If a start failed, Get returns that error (and the pool tries
// again for the next Get). The caller owns the kernel and shuts it down.
func (p *Pool) Get(ctx context.Context) (*Kernel, error) {
	for {
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return nil, ErrPoolClosed
		}
		select {
		case r := <-p.results:
			p.startOne()
			if r.err != nil {
				return nil, r.err
			}
			select {
			case <-r.k.Done():
				shutdownQuietly(r.k)
				continue
			default:
			}
			return r.k, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.ctx.Done():
			return nil, ErrPoolClosed
		}
	}
}

// Close stops kernels still starting and shuts down the ready ones.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	var errs []error
	for {
		select {
		case r := <-p.results:
			if r.k != nil {
				if err := r.k.Shutdown(ctx); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		case <-done:
		}
		break
	}
	// Drain what finished between the last receive and done.
	for {
		select {
		case r := <-p.results:
			if r.k != nil {
				if err := r.k.Shutdown(ctx); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		default:
		}
		break
	}
	return errors.Join(errs...)
}

func shutdownQuietly(k *Kernel) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = k.Shutdown(ctx)
}
