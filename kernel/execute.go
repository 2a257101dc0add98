package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"
)

// ExecuteOptions tunes one execute_request.
type ExecuteOptions struct {
	Silent       bool
	StoreHistory bool
	// AllowStdin lets the code call input(); it takes effect only with
	// OnInput set. Otherwise the kernel refuses input() with an error.
	AllowStdin  bool
	StopOnError bool
	// OnMessage gets every iopub message of this request, in order: status
	// busy, execute_input, stream, display_data, update_display_data,
	// execute_result, error, clear_output, ..., status idle. It runs on the
	// caller's goroutine.
	OnMessage func(*Message)
	// OnInput answers input_request; an error interrupts the kernel and is
	// returned by Execute.
	OnInput func(ctx context.Context, prompt string, password bool) (string, error)
	// MaxOutput overrides StartOptions.MaxOutput when > 0.
	MaxOutput int
}

// interruptGrace is how long Execute waits, after interrupting for a
// cancelled context, for the kernel to finish the request.
const interruptGrace = 5 * time.Second

// Execute runs code and returns its execute_reply. It returns only after
// both the reply and the kernel's idle status for this request have arrived
// (in either order), so every output has been passed to OnMessage.
//
// An exception in the code is not an error of Execute: check reply.Status
// or reply.Err(). Cancelling ctx interrupts the kernel; Execute then waits
// briefly for the request to end and returns the reply it has (maybe nil)
// with ctx's error. If the kernel dies, the error wraps ErrKernelDied.
func (k *Kernel) Execute(ctx context.Context, code string, opts ExecuteOptions) (*ExecuteReply, error) {
	p, err := k.alive()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kernel: execute: %w", err)
	}
	allowStdin := opts.AllowStdin && opts.OnInput != nil
	m := p.sess.newMessage("execute_request", &ExecuteRequest{
		Code: code, Silent: opts.Silent, StoreHistory: opts.StoreHistory,
		UserExpressions: map[string]any{}, AllowStdin: allowStdin, StopOnError: opts.StopOnError,
	})
	r := k.register(m.Header.MsgID, p)
	defer k.unregister(m.Header.MsgID, r)
	if err := k.send(p, "shell", m); err != nil {
		return nil, err
	}

	limit := k.opts.MaxOutput
	if opts.MaxOutput > 0 {
		limit = opts.MaxOutput
	}
	capper := outputCap{limit: limit}
	var (
		reply       *ExecuteReply
		idle        bool
		ctxDone     = ctx.Done()
		interrupted bool
		grace       <-chan time.Time
		inputErr    error
	)
	for reply == nil || !idle {
		select {
		case msg := <-r.iopub:
			if st, ok := msg.Content.(*Status); ok && st.ExecutionState == "idle" {
				idle = true
			}
			if opts.OnMessage != nil {
				if msg = capper.apply(msg); msg != nil {
					opts.OnMessage(msg)
				}
			}
		case msg := <-r.reply:
			rep, ok := msg.Content.(*ExecuteReply)
			if !ok {
				return nil, fmt.Errorf("kernel: execute: reply of type %s with content %.200s", msg.Type(), msg.RawContent)
			}
			reply = rep
		case msg := <-r.stdin:
			req, ok := msg.Content.(*InputRequest)
			if !ok {
				continue
			}
			value := ""
			if allowStdin {
				value, err = opts.OnInput(ctx, req.Prompt, req.Password)
			} else {
				err = errors.New("stdin is not allowed")
			}
			if err != nil {
				inputErr = fmt.Errorf("kernel: input(%q): %w", req.Prompt, err)
				go k.interruptQuietly(p)
			}
			if err := k.send(p, "stdin", p.sess.reply(msg, "input_reply", &InputReply{Value: value})); err != nil {
				return nil, err
			}
		case <-ctxDone:
			ctxDone, interrupted = nil, true
			grace = time.After(interruptGrace)
			go k.interruptQuietly(p)
		case <-grace:
			return reply, fmt.Errorf("kernel: execute: %w (the kernel did not finish the request %s after an interrupt)", context.Cause(ctx), interruptGrace)
		case <-p.done:
			return reply, fmt.Errorf("kernel: execute: %w", p.err)
		}
	}
	if interrupted {
		return reply, fmt.Errorf("kernel: execute interrupted: %w", context.Cause(ctx))
	}
	return reply, inputErr
}

func (k *Kernel) interruptQuietly(p *process) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := k.interrupt(ctx, p); err != nil {
		k.log.Debug().Err(err).Msg("interrupt failed")
	}
}

// alive returns the current process, or why there is none.
func (k *Kernel) alive() (*process, error) {
	k.mu.Lock()
	p, closed := k.proc, k.closed
	k.mu.Unlock()
	if closed || p == nil {
		return nil, ErrClosed
	}
	select {
	case <-p.done:
		return nil, p.err
	default:
	}
	return p, nil
}

// outputCap truncates stream text past a byte limit: the message that
// crosses it is cut (at a rune boundary) and ends with a note; later stream
// messages are dropped. Other outputs pass.
type outputCap struct {
	limit int
	seen  int
}

func (c *outputCap) apply(m *Message) *Message {
	s, ok := m.Content.(*Stream)
	if !ok || c.limit <= 0 {
		return m
	}
	room := c.limit - c.seen
	if room >= len(s.Text) {
		c.seen += len(s.Text)
		return m
	}
	if room <= 0 {
		return nil
	}
	cut := room
	for cut > 0 && !utf8.RuneStart(s.Text[cut]) {
		cut--
	}
	c.seen = c.limit
	out := *m
	out.Content = &Stream{Name: s.Name, Text: s.Text[:cut] + fmt.Sprintf("\n[output truncated: more than %d bytes]\n", c.limit)}
	out.RawContent, _ = json.Marshal(out.Content)
	return &out
}

// KernelInfo asks the kernel for its kernel_info_reply.
func (k *Kernel) KernelInfo(ctx context.Context) (*KernelInfoReply, error) {
	m, err := k.request(ctx, "shell", "kernel_info_request", &KernelInfoRequest{})
	if err != nil {
		return nil, err
	}
	info, ok := m.Content.(*KernelInfoReply)
	if !ok {
		return nil, fmt.Errorf("kernel: kernel_info: reply of type %s", m.Type())
	}
	return info, nil
}

// request sends a request on shell or control and waits for its reply.
func (k *Kernel) request(ctx context.Context, channel, msgType string, content any) (*Message, error) {
	p, err := k.alive()
	if err != nil {
		return nil, err
	}
	return k.requestOn(ctx, p, channel, msgType, content)
}

func (k *Kernel) requestOn(ctx context.Context, p *process, channel, msgType string, content any) (*Message, error) {
	m := p.sess.newMessage(msgType, content)
	r := k.register(m.Header.MsgID, p)
	defer k.unregister(m.Header.MsgID, r)
	if err := k.send(p, channel, m); err != nil {
		return nil, err
	}
	select {
	case rep := <-r.reply:
		return rep, nil
	case <-p.done:
		return nil, fmt.Errorf("kernel: %s: %w", msgType, p.err)
	case <-ctx.Done():
		return nil, fmt.Errorf("kernel: %s: %w", msgType, ctx.Err())
	}
}

// Interrupt interrupts the running code: SIGINT to the kernel's process
// group, or an interrupt_request on control when the spec's interrupt_mode
// is "message".
func (k *Kernel) Interrupt(ctx context.Context) error {
	p, err := k.alive()
	if err != nil {
		return err
	}
	return k.interrupt(ctx, p)
}

func (k *Kernel) interrupt(ctx context.Context, p *process) error {
	if k.remote != nil {
		if err := k.remote.Interrupt(ctx); err != nil {
			return fmt.Errorf("kernel: interrupt: %w", err)
		}
		return nil
	}
	// bwrap dies of a SIGINT, taking its sandbox with it; the kernel
	// inside interrupts itself on request.
	if k.spec.InterruptMode == "message" || p.cmd == nil || k.opts.Sandbox != nil {
		_, err := k.requestOn(ctx, p, "control", "interrupt_request", &InterruptRequest{})
		return err
	}
	if err := syscall.Kill(-p.pgid, syscall.SIGINT); err != nil {
		return fmt.Errorf("kernel: interrupt: %w", err)
	}
	return nil
}

// Restart stops the kernel process and starts a new one from the same spec,
// on the same connection file and ports when they are still free (new ones
// otherwise). It returns once the new kernel is ready. Requests running on
// the old process fail with ErrKernelDied.
func (k *Kernel) Restart(ctx context.Context) error {
	k.lifecycle.Lock()
	defer k.lifecycle.Unlock()
	k.mu.Lock()
	p, closed, conn := k.proc, k.closed, k.conn
	k.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if k.remote != nil {
		if p != nil {
			p.markDead(fmt.Errorf("%w: restarted", ErrKernelDied))
			p.closeSockets()
		}
		if err := k.remote.Restart(ctx); err != nil {
			return fmt.Errorf("kernel: restart: %w", err)
		}
		if err := k.attach(ctx); err != nil {
			return fmt.Errorf("kernel: restart: %w", err)
		}
		return nil
	}
	if p != nil && p.cmd == nil {
		return errors.New("kernel: restart: this kernel was not started by trialbook (Connect); restart it where it was started")
	}
	if p != nil {
		k.stop(ctx, p, true)
	}
	err := k.launch(ctx, conn, nil)
	if errors.Is(err, errPortInUse) {
		k.log.Debug().Err(err).Msg("old ports taken; restarting on new ones")
		err = k.launchFresh(ctx)
	}
	if err != nil {
		return fmt.Errorf("kernel: restart: %w", err)
	}
	return nil
}

// Shutdown ends the kernel: a shutdown_request on control, then SIGTERM,
// then SIGKILL of its whole process group, waiting for it each time; then it
// closes the sockets and removes the connection file. When it returns no
// process of the kernel is left. It is safe to call more than once.
func (k *Kernel) Shutdown(ctx context.Context) error {
	k.lifecycle.Lock()
	defer k.lifecycle.Unlock()
	k.mu.Lock()
	p, closed := k.proc, k.closed
	k.closed = true
	k.mu.Unlock()
	if closed {
		return nil
	}
	if k.remote != nil {
		if p != nil {
			p.markDead(fmt.Errorf("%w: shut down", ErrKernelDied))
			p.closeSockets()
		}
		if err := k.remote.Shutdown(ctx); err != nil {
			return fmt.Errorf("kernel: shutdown: %w", err)
		}
		return nil
	}
	if p != nil {
		k.stop(ctx, p, false)
	}
	defer k.removeSockets()
	if k.connFile != "" {
		os.Remove(k.connFile)
		if c := k.Connection(); c.Transport == "ipc" {
			// A killed kernel leaves its socket files behind.
			for _, port := range []int{c.ShellPort, c.IOPubPort, c.StdinPort, c.ControlPort, c.HBPort} {
				os.Remove(c.IP + "-" + strconv.Itoa(port))
			}
		}
	}
	return nil
}

// Close disconnects the client from a kernel attached with Connect, leaving
// the kernel running. For a kernel trialbook started (or attached to, which
// it owns too) it is Shutdown.
func (k *Kernel) Close(ctx context.Context) error {
	k.mu.Lock()
	p := k.proc
	owned := p != nil && (p.cmd != nil || k.remote != nil)
	if !owned {
		k.closed = true
	}
	k.mu.Unlock()
	if owned {
		return k.Shutdown(ctx)
	}
	if p != nil {
		p.markDead(fmt.Errorf("%w: disconnected", ErrKernelDied))
		p.closeSockets()
	}
	return nil
}

// stop ends process p politely, then less so.
func (k *Kernel) stop(ctx context.Context, p *process, restart bool) {
	const (
		politeWait = 3 * time.Second
		termWait   = 2 * time.Second
	)
	select {
	case <-p.done:
	default:
		if p.busy.Load() {
			// A kernel busy in user code answers shutdown_request but
			// exits only when the code returns; interrupt it first.
			ictx, cancel := context.WithTimeout(ctx, time.Second)
			if err := k.interrupt(ictx, p); err != nil {
				k.log.Debug().Err(err).Msg("interrupt before shutdown")
			}
			cancel()
		}
		rctx, cancel := context.WithTimeout(ctx, politeWait)
		_, err := k.requestOn(rctx, p, "control", "shutdown_request", &ShutdownRequest{Restart: restart})
		cancel()
		if err != nil {
			k.log.Debug().Err(err).Msg("shutdown_request unanswered")
		}
	}
	if p.cmd != nil {
		waitExit := func(d time.Duration) bool {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-p.exited:
				return true
			case <-t.C:
			case <-ctx.Done():
			}
			return false
		}
		if !waitExit(politeWait) {
			_ = syscall.Kill(-p.pgid, syscall.SIGTERM)
			if !waitExit(termWait) {
				_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
			}
		}
		<-p.exited
	}
	p.markDead(fmt.Errorf("%w: shut down", ErrKernelDied))
	p.closeSockets()
}
