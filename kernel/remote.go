package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Transport carries messages between the client and a kernel by something
// other than the kernel's own ZeroMQ sockets, such as a Jupyter Server
// websocket (kernel/gateway). Messages cross it unsigned: the server signs
// them on their way to the kernel.
type Transport interface {
	// Send writes m to the kernel's "shell", "control" or "stdin" channel.
	Send(channel string, m *Message) error
	// Recv returns the next message and the channel it came from ("shell",
	// "control", "stdin" or "iopub"). An error wrapping ErrMalformed drops
	// one unreadable message (counted in Stats.Malformed) and the
	// connection goes on; any other error ends the connection.
	Recv() (channel string, m *Message, err error)
	// Close ends the connection, making Recv return.
	Close() error
}

// Remote controls a kernel that runs elsewhere (a Jupyter Server).
type Remote interface {
	// Open connects a Transport to the kernel; again after a restart.
	Open(ctx context.Context) (Transport, error)
	Interrupt(ctx context.Context) error
	Restart(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Attach returns a Kernel driven through r, ready like one from Start:
// Execute, KernelInfo, Interrupt, Restart and Shutdown work the same way,
// the last three through r. The kernel counts as dead when its transport
// fails or the server reports it dead or restarting on its own.
func Attach(ctx context.Context, name string, r Remote, opts StartOptions) (*Kernel, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	id := newMsgID()
	k := &Kernel{
		id:     id,
		spec:   &Spec{Name: name, InterruptMode: "message"},
		opts:   opts,
		log:    opts.Logger.With().Str("kernel", id[:8]).Str("spec", name).Logger(),
		client: newSession(nil, username()),
		reqs:   map[string]*request{},
		remote: r,
	}
	if err := k.attach(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// attach opens a transport and waits until the kernel is ready on it.
func (k *Kernel) attach(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, k.opts.StartTimeout)
	defer cancel()
	t, err := k.remote.Open(ctx)
	if err != nil {
		return fmt.Errorf("kernel: attach %s: %w", k.spec.Name, err)
	}
	p := newProcess()
	p.sess = k.client
	p.remote = t
	p.readers.Add(1)
	go k.remoteLoop(p)
	if err := k.waitReady(ctx, p); err != nil {
		p.markDead(fmt.Errorf("%w: not ready: %v", ErrKernelDied, err))
		p.closeSockets()
		return fmt.Errorf("kernel: attach %s: not ready: %w", k.spec.Name, err)
	}
	k.mu.Lock()
	k.proc = p
	k.mu.Unlock()
	return nil
}

// remoteLoop routes what the transport receives until it fails.
func (k *Kernel) remoteLoop(p *process) {
	defer p.readers.Done()
	for {
		channel, m, err := p.remote.Recv()
		if errors.Is(err, ErrMalformed) {
			k.malformed.Add(1)
			k.log.Debug().Err(err).Msg("message dropped")
			continue
		}
		if err != nil {
			p.markDead(fmt.Errorf("%w: connection lost: %v", ErrKernelDied, err))
			return
		}
		if st, ok := m.Content.(*Status); ok && channel == "iopub" {
			// Jupyter Server reports a kernel it found dead, or restarted
			// by itself, with these states; its state is gone either way.
			// https://jupyter-server.readthedocs.io/en/latest/developers/websocket-protocols.html
			switch st.ExecutionState {
			case "dead", "restarting", "autorestarting":
				p.markDead(fmt.Errorf("%w: the server reports it %s", ErrKernelDied, st.ExecutionState))
				continue
			}
		}
		if m.cut {
			k.truncated.Add(1)
			k.log.Debug().Str("channel", channel).Msg("message over the limit cut short")
		}
		if !k.route(p, channel, m) {
			return
		}
	}
}

// DecodeContent fills m.Content from m.RawContent with the typed content
// for m's msg_type (json.RawMessage for types not in the table). Transports
// call it on what they receive.
func (m *Message) DecodeContent() { m.decodeContent() }

// MarshalContent returns m.Content as JSON ({} for nil).
func (m *Message) MarshalContent() (json.RawMessage, error) { return marshalContent(m.Content) }

// MessageLimit is how many bytes of one part of a message (its content, a
// buffer) a client keeps under o.MaxMessage: DefaultMaxMessage for 0, and
// 0 (no bound) when negative. A Transport applies it as the ZeroMQ
// channels do, keeping at least 1 KiB of any part.
func (o StartOptions) MessageLimit() int {
	switch n := o.MaxMessage; {
	case n == 0:
		return DefaultMaxMessage
	case n < 0:
		return 0
	default:
		return n
	}
}

// CutShort is for a Transport that kept only the first bytes of a part of
// m that was size bytes long, over limit (StartOptions.MessageLimit):
// m.RawContent holds what arrived of the content, and content says whether
// the content was the part cut (else a buffer was). m becomes what the
// ZeroMQ channels deliver for such a message: a stream message keeps its
// name and the text that arrived, ending with a note of how much was
// dropped; any other message becomes a stderr note in place of its content
// and buffers. The kernel counts it in Stats.Truncated.
func (m *Message) CutShort(limit int, size int64, content bool) { m.cutShort(limit, size, content) }
