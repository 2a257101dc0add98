package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RetryPolicy bounds how an LLM agent retries provider faults: 429 (after
// the provider's Retry-After), 5xx, timeouts and cut connections. The SDKs'
// own retries are turned off so that this one bound holds for both.
type RetryPolicy struct {
	// Total bounds all attempts of one call together, waits included.
	Total time.Duration
	// Attempt bounds one request; a model writing a long answer needs minutes.
	Attempt time.Duration
	// Base is the first backoff; each retry doubles it up to Max, with jitter.
	Base time.Duration
	Max  time.Duration
}

// DefaultRetry returns the policy used for the zero fields of LLMConfig.Retry.
func DefaultRetry() RetryPolicy {
	return RetryPolicy{
		Total:   6 * time.Minute,
		Attempt: 3 * time.Minute,
		Base:    time.Second,
		Max:     30 * time.Second,
	}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	def := DefaultRetry()
	if p.Total <= 0 {
		p.Total = def.Total
	}
	if p.Attempt <= 0 {
		p.Attempt = min(def.Attempt, p.Total)
	}
	if p.Base <= 0 {
		p.Base = def.Base
	}
	if p.Max <= 0 {
		p.Max = max(p.Base, def.Max)
	}
	return p
}

// backoff is the wait before retry n (from 0): exponential, capped, and
// jittered into its upper half so that workers retrying together spread out.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.Max
	if n < 30 {
		d = min(p.Max, p.Base<<n)
	}
	half := d / 2
	return half + rand.N(half+1)
}

// fault is a provider error as the retry loop sees it.
type fault struct {
	retry  bool
	status int           // the HTTP status, when there was one
	after  time.Duration // the provider's Retry-After, when it sent one
	reason string
}

// askWithRetry runs one ask, retrying faults within the policy's bounds.
func (l *llm) askWithRetry(ctx context.Context, x exchange, maxOut int, retry *complaint) (answer, error) {
	var a answer
	err := l.retrying(ctx, func(ctx context.Context) error {
		var err error
		a, err = l.p.ask(ctx, x, maxOut, retry)
		return err
	})
	return a, err
}

// retrying runs call, retrying provider faults within the policy's bounds.
// Each retry is told to the Recorder the context carries (agent.retry in
// the journal) before its wait.
func (l *llm) retrying(ctx context.Context, call func(ctx context.Context) error) error {
	pol := l.cfg.Retry
	start := time.Now()
	deadline := start.Add(pol.Total)
	var last fault
	for n := 0; ; n++ {
		attemptStart := time.Now()
		attemptCtx, cancel := context.WithDeadline(ctx, minTime(deadline, attemptStart.Add(pol.Attempt)))
		err := call(attemptCtx)
		timedOut := attemptCtx.Err() != nil
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", l.p.name(), ctx.Err())
		}
		var f fault
		switch {
		case timedOut && !time.Now().Before(deadline) && n > 0:
			// The bound cut this attempt short: the fault worth telling is
			// the one that made us retry.
			return l.gaveUp(n+1, start, last)
		case timedOut:
			f = fault{retry: true, reason: "no answer within " + seconds(time.Since(attemptStart))}
		default:
			f = l.p.fault(err)
		}
		f.reason = l.scrub(f.reason)
		if !f.retry {
			return fmt.Errorf("%w: %s: %s", ErrProvider, l.p.name(), f.reason)
		}
		last = f
		wait := l.cfg.Retry.backoff(n)
		if f.after > 0 {
			wait = f.after
		}
		if wait >= time.Until(deadline) {
			return l.gaveUp(n+1, start, f)
		}
		l.cfg.Log.Debug().Str("provider", l.p.name()).Str("reason", f.reason).Dur("wait", wait).Int("attempt", n+1).Msg("retrying")
		if err := record(ctx, Note{Retry: &RetryNote{Provider: l.p.name(), Status: f.status, Reason: f.reason, Attempt: n + 1, Wait: wait}}); err != nil {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", l.p.name(), ctx.Err())
		case <-t.C:
		}
	}
}

// gaveUp is the error of a call whose faults outlasted the retry bounds.
func (l *llm) gaveUp(attempts int, start time.Time, last fault) error {
	return fmt.Errorf("%w: %s: gave up after %d attempts in %s (agent.retry.total %s): %s",
		ErrProvider, l.p.name(), attempts, seconds(time.Since(start)), l.cfg.Retry.Total, last.reason)
}

// ErrProvider marks a call the provider did not answer: it refused it, or
// its faults outlasted the retry bounds.
var ErrProvider = errors.New("the provider did not answer")

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// httpFault classifies an HTTP error status the same way for both APIs:
// rate limits, conflicts, timeouts and server errors are worth another try.
func httpFault(status int, header http.Header, message string) fault {
	reason := fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	if message != "" {
		reason += ": " + clip(message, 500)
	}
	f := fault{reason: reason, status: status}
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout,
		status == http.StatusConflict, status >= 500:
		f.retry = true
	}
	if header != nil && f.retry {
		f.after = retryAfter(header)
		if f.after > 0 {
			f.reason += " (retry after " + seconds(f.after) + ")"
		}
	}
	return f
}

// retryAfter reads retry-after-ms (OpenAI) or Retry-After in seconds or as an
// HTTP date (RFC 9110 §10.2.3); 0 when absent or unreadable.
func retryAfter(h http.Header) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// transportFault classifies an error that came with no HTTP response.
func transportFault(err error) fault {
	var ne net.Error
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE):
		return fault{retry: true, reason: "connection cut: " + err.Error()}
	case errors.As(err, &ne):
		return fault{retry: true, reason: "network: " + err.Error()}
	}
	return fault{reason: err.Error()}
}

func responseHeader(r *http.Response) http.Header {
	if r == nil {
		return nil
	}
	return r.Header
}
