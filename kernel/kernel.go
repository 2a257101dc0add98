package kernel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/rs/zerolog"
)

// Errors callers branch on.
var (
	// ErrKernelDied is wrapped by every error caused by the kernel process
	// exiting or its heartbeat stopping.
	ErrKernelDied = errors.New("kernel died")
	// ErrAborted is returned by ExecuteReply.Err for an aborted request.
	ErrAborted = errors.New("kernel: execution aborted (an earlier request failed with stop_on_error)")
	// ErrClosed is returned after Shutdown.
	ErrClosed = errors.New("kernel: shut down")
)

// ExecError is an exception raised by the code a kernel ran.
type ExecError struct {
	Ename     string
	Evalue    string
	Traceback []string
}

func (e *ExecError) Error() string { return e.Ename + ": " + e.Evalue }

// StartOptions says how to launch a kernel.
type StartOptions struct {
	Dir string            // working directory; "" is the current one
	Env map[string]string // merged over the environment and the spec's env
	// Transport is "ipc" (the default: Unix sockets in a 0700 folder of
	// the kernel's own) or "tcp" (loopback ports, reachable by every local
	// user and process; the HMAC key is all that guards them).
	Transport string
	IP        string // default 127.0.0.1
	// RuntimeDir holds the connection file (and ipc sockets); default is
	// Jupyter's runtime dir.
	RuntimeDir string
	Logger     zerolog.Logger
	// MaxOutput caps the stream text (stdout+stderr) delivered to OnMessage
	// per Execute, in bytes; 0 means no cap. Text past the cap is dropped
	// and a single note says how much.
	MaxOutput int
	// MaxMessage bounds the bytes kept of one frame of a message the kernel
	// sends (its content, in practice), so memory stays bounded when a cell
	// prints gigabytes at once: ipykernel sends all the text printed in
	// ~0.2 s as one message. The rest of a longer frame is read, checked
	// against the signature and dropped: a stream message keeps the text
	// that fit and ends with a note; any other message becomes a stderr
	// note (counted in Stats.Truncated). Memory per message is then a few
	// times MaxMessage. 0 means DefaultMaxMessage; < 0 no bound; at least
	// 1 KiB is kept of any frame.
	MaxMessage int
	// StartTimeout bounds the wait for the kernel to be ready; default 60s.
	StartTimeout time.Duration
	// Output receives the kernel process's own stdout and stderr (not cell
	// output); the last 16 KiB are always kept for error messages.
	Output io.Writer
	// Sandbox, when set, confines the kernel (see Sandbox); it needs the
	// ipc transport.
	Sandbox *Sandbox
	// Limits caps the memory and processes of the kernel and its children.
	Limits Limits
	// CleanEnv starts the kernel from an allow-list of trialbook's
	// environment (locale, time zone, thread counts; see cleanEnviron)
	// rather than all of it, so no API key or token reaches it; the spec's
	// env and Env are merged over it. A sandboxed kernel always gets a
	// clean environment.
	CleanEnv bool
}

// DefaultMaxMessage is StartOptions.MaxMessage when it is 0.
const DefaultMaxMessage = 64 << 20

// Stats counts messages the client received and did not use.
type Stats struct {
	BadSignature int64 // dropped: missing or wrong HMAC
	Malformed    int64 // dropped: bad framing or JSON
	Unclaimed    int64 // well-formed, but no request is waiting for them
	// Truncated counts messages over StartOptions.MaxMessage, delivered
	// cut short (stream text) or as a note in place of their content.
	Truncated int64
}

// Kernel is a running kernel and the client connected to it. Its methods are
// safe for concurrent use.
type Kernel struct {
	id       string
	spec     *Spec
	opts     StartOptions
	log      zerolog.Logger
	client   *session // the client's session id and user; each process signs with its own key
	connFile string
	sockDir  string // the kernel's own 0700 folder for ipc sockets; removed at Shutdown

	lifecycle sync.Mutex // serializes Restart and Shutdown

	mu     sync.Mutex // guards the fields below
	conn   ConnectionInfo
	proc   *process
	closed bool

	reqMu sync.Mutex
	reqs  map[string]*request

	badSig, malformed, unclaimed, truncated atomic.Int64

	remote Remote // set by Attach: the kernel runs elsewhere
}

// process is one incarnation of the kernel: the OS process and the sockets
// connected to it. Restart replaces it.
type process struct {
	cmd    *exec.Cmd
	pgid   int
	exited chan struct{} // closed when the process has been waited for
	output *tailBuffer
	limits *limiter    // nil: no Limits
	limit  *LimitError // the cap it went past, set before exited is closed

	done     chan struct{} // closed when the kernel is dead
	doneOnce sync.Once
	err      error // why, set before done is closed

	ctx    context.Context // the sockets' life line
	cancel context.CancelFunc

	sess *session // signs and checks with this process's connection key

	shell, control, stdin, iopub, hb *channel
	remote                           Transport // instead of the channels, for Attach

	busy     atomic.Bool   // the last iopub status said busy
	live     chan struct{} // closed on the first iopub message
	liveOnce sync.Once
	readers  sync.WaitGroup
}

type request struct {
	proc  *process
	reply chan *Message // shell or control reply
	iopub chan *Message
	stdin chan *Message
	done  chan struct{}
}

// ID returns the kernel's id (also in its connection file's name).
func (k *Kernel) ID() string { return k.id }

// Env returns the value StartOptions.Env set for name ("" when it set
// none), e.g. the CUDA_VISIBLE_DEVICES a pool gave this kernel.
func (k *Kernel) Env(name string) string { return k.opts.Env[name] }

// Spec returns the kernelspec the kernel was started from.
func (k *Kernel) Spec() *Spec { return k.spec }

// ConnectionFile returns the path of the kernel's connection file.
func (k *Kernel) ConnectionFile() string { return k.connFile }

// Connection returns the current connection info.
func (k *Kernel) Connection() ConnectionInfo {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.conn
}

// Stats returns counts of dropped and unclaimed messages.
func (k *Kernel) Stats() Stats {
	return Stats{BadSignature: k.badSig.Load(), Malformed: k.malformed.Load(), Unclaimed: k.unclaimed.Load(), Truncated: k.truncated.Load()}
}

// Pid returns the kernel process id (also its process group id), or 0.
func (k *Kernel) Pid() int {
	p := k.current()
	if p == nil {
		return 0
	}
	return p.pgid
}

func (k *Kernel) current() *process {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.proc
}

// Done is closed when the current kernel process is dead: it exited, or its
// heartbeat stopped for 3 s (then it is killed). After Restart, Done returns
// a new channel.
func (k *Kernel) Done() <-chan struct{} {
	p := k.current()
	if p == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.done
}

// Err returns why the current process died, wrapping ErrKernelDied, or nil
// while it is alive.
func (k *Kernel) Err() error {
	p := k.current()
	if p == nil {
		return ErrClosed
	}
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Start launches a kernel from spec and returns once it is ready: it answers
// kernel_info and its iopub channel is live, so no output is lost. If ctx
// ends first, the kernel's whole process group is killed before Start returns.
func Start(ctx context.Context, spec *Spec, opts StartOptions) (*Kernel, error) {
	if spec == nil || len(spec.Argv) == 0 {
		return nil, errors.New("kernel: start: spec has no argv")
	}
	if opts.Transport == "" {
		opts.Transport = "ipc"
	}
	if opts.Sandbox != nil && opts.Transport != "ipc" {
		return nil, fmt.Errorf("kernel: start: a sandboxed kernel has no network in common with trialbook: transport %q cannot reach it, want \"ipc\"", opts.Transport)
	}
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.RuntimeDir == "" {
		opts.RuntimeDir = runtimeDir(os.Getenv)
	}
	// The kernel runs in opts.Dir; it must find its connection file anyway.
	if abs, err := filepath.Abs(opts.RuntimeDir); err == nil {
		opts.RuntimeDir = abs
	}
	if err := os.MkdirAll(opts.RuntimeDir, 0o700); err != nil {
		return nil, fmt.Errorf("kernel: start: runtime dir: %w", err)
	}
	id := newMsgID()
	id = id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
	k := &Kernel{
		id:       id,
		spec:     spec,
		opts:     opts,
		log:      opts.Logger.With().Str("kernel", id[:8]).Str("spec", spec.Name).Logger(),
		client:   newSession(nil, username()),
		connFile: filepath.Join(opts.RuntimeDir, "kernel-"+id+".json"),
		reqs:     map[string]*request{},
	}
	if opts.Transport == "ipc" {
		base := opts.RuntimeDir
		if opts.Sandbox != nil {
			// Not the runtime dir in the home directory: every folder
			// above a bound one shows in the sandbox (empty).
			base = os.TempDir()
		}
		dir, err := socketDir(base)
		if err != nil {
			return nil, fmt.Errorf("kernel: start: %w", err)
		}
		k.sockDir = dir
		if opts.Sandbox != nil {
			// The sandbox sees this folder and nothing else of the
			// runtime dir.
			k.connFile = filepath.Join(dir, "kernel-"+id+".json")
		}
	}
	if err := k.launchFresh(ctx); err != nil {
		k.removeSockets()
		return nil, err
	}
	return k, nil
}

// Connect attaches a client to a kernel that something else started (a
// JupyterLab kernel, say) from its connection info. Such a kernel is
// interrupted by message, Shutdown only sends it shutdown_request, and
// Restart is refused.
func Connect(ctx context.Context, info ConnectionInfo, opts StartOptions) (*Kernel, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	id := newMsgID()
	k := &Kernel{
		id:     id,
		spec:   &Spec{Name: info.KernelName, InterruptMode: "message"},
		opts:   opts,
		log:    opts.Logger.With().Str("kernel", id[:8]).Logger(),
		client: newSession(nil, username()),
		conn:   info,
		reqs:   map[string]*request{},
	}
	p := newProcess()
	p.sess = newSessionID(k.client.id, []byte(info.Key), k.client.username)
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := k.connect(ctx, p, info); err != nil {
		k.teardown(p, err)
		return nil, fmt.Errorf("kernel: connect: %w", err)
	}
	if err := k.waitReady(ctx, p); err != nil {
		k.teardown(p, err)
		if n := k.badSig.Load(); n > 0 {
			return nil, fmt.Errorf("kernel: connect: not ready: %w (%w: %d messages dropped; is the key right?)", err, ErrBadSignature, n)
		}
		return nil, fmt.Errorf("kernel: connect: not ready: %w", err)
	}
	k.proc = p
	go k.heartbeat(p)
	return k, nil
}

func newProcess() *process {
	p := &process{exited: make(chan struct{}), done: make(chan struct{}), live: make(chan struct{}), output: &tailBuffer{max: 16 << 10}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

func username() string {
	for _, v := range []string{"USER", "LOGNAME"} {
		if u := os.Getenv(v); u != "" {
			return u
		}
	}
	return "trialbook"
}

// launchFresh launches with new ports and key. A kernel that exits because a
// port was taken after all (another program bound it between our check and
// the kernel's bind) is retried with new ports.
func (k *Kernel) launchFresh(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		ipcPrefix := filepath.Join(k.sockDir, "kernel-"+k.id[:8]+"-ipc")
		conn, resv, cerr := newConnection(k.opts.Transport, k.opts.IP, ipcPrefix, k.spec.Name)
		if cerr != nil {
			return cerr
		}
		k.mu.Lock()
		k.conn = conn
		k.mu.Unlock()
		err = k.launch(ctx, conn, resv)
		resv.release()
		if err == nil {
			return nil
		}
		if !errors.Is(err, errPortInUse) || ctx.Err() != nil {
			break
		}
		k.log.Debug().Err(err).Msg("port taken; retrying with new ports")
	}
	os.Remove(k.connFile)
	return err
}

var errPortInUse = errors.New("address already in use")

// launch starts the process, connects the sockets and waits until ready.
// On failure the process group is killed and waited for.
func (k *Kernel) launch(ctx context.Context, conn ConnectionInfo, resv *portReservation) error {
	start := time.Now()
	if err := writeConnectionFile(k.connFile, conn); err != nil {
		return err
	}
	p, err := k.spawn()
	if err != nil {
		return err
	}
	p.sess = newSessionID(k.client.id, []byte(conn.Key), k.client.username)
	ctx, cancel := context.WithTimeout(ctx, k.opts.StartTimeout)
	defer cancel()
	if err := k.connect(ctx, p, conn); err != nil {
		err = k.startError(ctx, p, err)
		k.teardown(p, err)
		return err
	}
	k.log.Debug().Int("pid", p.pgid).Dur("after", time.Since(start)).Msg("kernel connected")
	if err := k.waitReady(ctx, p); err != nil {
		err = k.startError(ctx, p, err)
		k.teardown(p, err)
		return err
	}
	k.mu.Lock()
	k.proc = p
	k.mu.Unlock()
	go k.heartbeat(p)
	k.log.Debug().Int("pid", p.pgid).Dur("took", time.Since(start)).Msg("kernel ready")
	return nil
}

func (k *Kernel) startError(ctx context.Context, p *process, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("kernel: start %s: not ready: %w (process output: %s)", k.spec.Name, ctx.Err(), p.output.tail(2000))
	}
	select {
	case <-p.exited:
		out := p.output.String()
		if strings.Contains(out, "Address already in use") {
			return fmt.Errorf("kernel: start %s: %w: %v", k.spec.Name, errPortInUse, p.err)
		}
		return fmt.Errorf("kernel: start %s: %w", k.spec.Name, p.err)
	default:
	}
	return fmt.Errorf("kernel: start %s: %w", k.spec.Name, err)
}

// spawn starts the kernel process in its own process group.
func (k *Kernel) spawn() (*process, error) {
	argv := make([]string, len(k.spec.Argv))
	for i, a := range k.spec.Argv {
		a = strings.ReplaceAll(a, "{connection_file}", k.connFile)
		a = strings.ReplaceAll(a, "{resource_dir}", k.spec.Dir)
		argv[i] = a
	}
	env := environ(os.Environ())
	if sb := k.opts.Sandbox; sb != nil || k.opts.CleanEnv {
		home := env.get("HOME")
		if sb != nil {
			home = "/tmp" // the sandbox's private tmp; the real home is not there
		}
		env = cleanEnviron(env, argv, home)
	}
	for name, v := range k.spec.Env {
		// jupyter_client expands ${VAR} in spec env values from the environment.
		env.set(name, os.Expand(v, func(n string) string { return env.get(n) }))
	}
	for name, v := range k.opts.Env {
		env.set(name, v)
	}
	env.set("JPY_PARENT_PID", strconv.Itoa(os.Getpid()))
	if sb := k.opts.Sandbox; sb != nil {
		// In its own PID namespace the kernel's parent is the sandbox's
		// init, never this pid: ipykernel would take the mismatch for its
		// parent's death and exit. bwrap's --die-with-parent does the job.
		env = env.without("JPY_PARENT_PID")
		bwrap, err := sb.bwrapPath()
		if err != nil {
			return nil, err
		}
		var specDir []string
		if strings.Contains(strings.Join(k.spec.Argv, " "), "{resource_dir}") {
			specDir = []string{k.spec.Dir}
		}
		dir := k.opts.Dir
		if dir == "" {
			dir, _ = os.Getwd()
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, fmt.Errorf("kernel: start %s: %w", k.spec.Name, err)
		}
		args, err := sb.args(dir, k.sockDir, argv, specDir)
		if err != nil {
			return nil, err
		}
		argv = append([]string{bwrap}, args...)
	}
	lim, err := newLimiter(k.opts.Limits, k.id[:8]+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err != nil {
		return nil, fmt.Errorf("kernel: start %s: %w", k.spec.Name, err)
	}
	argv = lim.wrap(argv)

	p := newProcess()
	p.limits = lim
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = k.opts.Dir
	cmd.Env = env
	var out io.Writer = p.output
	if k.opts.Output != nil {
		out = io.MultiWriter(p.output, k.opts.Output)
	}
	// The process writes to a pipe of ours rather than one exec copies from,
	// so that Wait returns when the kernel exits even while its children
	// still hold the pipe; they are killed right after.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("kernel: start %s: %w", k.spec.Name, err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		lim.remove()
		return nil, fmt.Errorf("kernel: start %s: %w (argv %q from %s)", k.spec.Name, err, argv, filepath.Join(k.spec.Dir, "kernel.json"))
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer r.Close()
		_, _ = io.Copy(out, r)
	}()
	p.cmd = cmd
	p.pgid = cmd.Process.Pid
	go func() {
		err := cmd.Wait()
		// The kernel's children live in its group; none outlive it.
		killGroup(p.pgid, 5*time.Second)
		// With the group gone the pipe's writers are closed; keep the last
		// words for the error below.
		select {
		case <-copied:
		case <-time.After(time.Second): // a process outside the group holds the pipe
		}
		if err == nil {
			err = errors.New("exited")
		}
		// The cgroups' counters tell whether a cap killed it; read them
		// before the cgroups go.
		if hit := p.limits.hit(); hit != nil {
			p.limit = hit
			if hit.Killed {
				err = hit
			}
		}
		p.limits.remove()
		p.markDead(fmt.Errorf("%w: process %d %w; its output: %s", ErrKernelDied, p.pgid, err, p.output.tail(2000)))
		close(p.exited)
	}()
	return p, nil
}

func (p *process) markDead(err error) {
	p.doneOnce.Do(func() {
		p.err = err
		close(p.done)
	})
}

// connect dials the five sockets, each retrying until the kernel has bound
// its port, the process exits, or ctx ends.
func (k *Kernel) connect(ctx context.Context, p *process, conn ConnectionInfo) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	// shell, control and stdin share one identity so the kernel can route
	// input_request to the client that asked for the execution.
	ident := []byte(p.sess.id)
	type dial struct {
		name string
		dst  **channel
		typ  zmq4.SocketType
		id   []byte
		port int
	}
	dials := []dial{
		{"iopub", &p.iopub, zmq4.Sub, nil, conn.IOPubPort},
		{"shell", &p.shell, zmq4.Dealer, ident, conn.ShellPort},
		{"control", &p.control, zmq4.Dealer, ident, conn.ControlPort},
		{"stdin", &p.stdin, zmq4.Dealer, ident, conn.StdinPort},
		{"hb", &p.hb, zmq4.Req, nil, conn.HBPort},
	}
	// The kernel binds all its ports together, so only the first dial
	// retries for long; the rest then connect at once. One retrying dial
	// rather than five leaves the CPU to the starting kernel.
	errs := make(chan error, len(dials))
	dialOne := func(d dial) {
		ch, err := dialChannel(ctx, d.name, conn.Endpoint(d.port), d.typ, d.id, k.opts.MessageLimit(), p.sess.newMAC())
		if err == nil {
			*d.dst = ch
		}
		errs <- err
	}
	dialOne(dials[0])
	first := <-errs
	if first == nil {
		for _, d := range dials[1:] {
			go dialOne(d)
		}
		for range dials[1:] {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
	}
	if first != nil {
		select {
		case <-p.exited:
			return p.err
		default:
		}
		return first
	}
	if err := p.iopub.subscribe(); err != nil {
		return fmt.Errorf("subscribe to iopub: %w", err)
	}
	p.readers.Add(4)
	go k.readLoop(p, p.iopub)
	go k.readLoop(p, p.shell)
	go k.readLoop(p, p.control)
	go k.readLoop(p, p.stdin)
	return nil
}

// waitReady returns when the kernel has answered kernel_info and iopub is
// live. A kernel whose iopub is an XPUB sends iopub_welcome as soon as our
// subscription arrives; for others the status messages of our kernel_info
// requests prove it. Until then kernel_info_request is repeated, as an early
// request may reach a kernel whose subscription is not yet in place.
func (k *Kernel) waitReady(ctx context.Context, p *process) error {
	answered := false
	for {
		m := p.sess.newMessage("kernel_info_request", &KernelInfoRequest{})
		r := k.register(m.Header.MsgID, p)
		if err := k.send(p, "shell", m); err != nil {
			k.unregister(m.Header.MsgID, r)
			return err
		}
		wait := time.NewTimer(time.Second)
		if answered {
			wait.Reset(200 * time.Millisecond)
		}
	loop:
		for {
			select {
			case <-r.reply:
				answered = true
				select {
				case <-p.live:
					wait.Stop()
					k.unregister(m.Header.MsgID, r)
					return nil
				default:
				}
			case <-p.live:
				if answered {
					wait.Stop()
					k.unregister(m.Header.MsgID, r)
					return nil
				}
			case <-wait.C:
				break loop
			case <-p.done:
				wait.Stop()
				k.unregister(m.Header.MsgID, r)
				return p.err
			case <-ctx.Done():
				wait.Stop()
				k.unregister(m.Header.MsgID, r)
				return ctx.Err()
			}
		}
		k.unregister(m.Header.MsgID, r)
	}
}

// heartbeat pings the kernel once a second; if no echo arrives for 3 s the
// kernel is declared dead and its process group killed.
func (k *Kernel) heartbeat(p *process) {
	const deadAfter = 3 * time.Second
	dead := time.AfterFunc(deadAfter, func() {
		p.markDead(fmt.Errorf("%w: no heartbeat for %s", ErrKernelDied, deadAfter))
		if p.cmd != nil {
			_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		}
	})
	defer dead.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := p.hb.send([][]byte{[]byte("ping")}); err != nil {
			return
		}
		// A lost echo leaves recv waiting; the timer declares death meanwhile.
		if _, err := p.hb.recv(); err != nil {
			return
		}
		dead.Reset(deadAfter)
		select {
		case <-tick.C:
		case <-p.done:
			return
		case <-p.ctx.Done():
			return
		}
	}
}

// send signs and writes a message on one of p's sockets.
func (k *Kernel) send(p *process, channel string, m *Message) error {
	var err error
	if p.remote != nil {
		err = p.remote.Send(channel, m)
	} else {
		var frames [][]byte
		if frames, err = p.sess.encode(m); err != nil {
			return err
		}
		err = p.channel(channel).send(frames)
	}
	if err != nil {
		select {
		case <-p.done:
			return p.err
		default:
		}
		return fmt.Errorf("kernel: send %s: %w", m.Header.MsgType, err)
	}
	return nil
}

func (p *process) channel(name string) *channel {
	switch name {
	case "control":
		return p.control
	case "stdin":
		return p.stdin
	}
	return p.shell
}

func (k *Kernel) register(id string, p *process) *request {
	r := &request{proc: p, reply: make(chan *Message, 1), iopub: make(chan *Message, 64), stdin: make(chan *Message, 1), done: make(chan struct{})}
	k.reqMu.Lock()
	k.reqs[id] = r
	k.reqMu.Unlock()
	return r
}

func (k *Kernel) unregister(id string, r *request) {
	k.reqMu.Lock()
	delete(k.reqs, id)
	k.reqMu.Unlock()
	close(r.done)
}

func (k *Kernel) lookup(id string) *request {
	k.reqMu.Lock()
	defer k.reqMu.Unlock()
	return k.reqs[id]
}

// readLoop receives, verifies and routes messages from one socket until the
// process's sockets are closed.
func (k *Kernel) readLoop(p *process, ch *channel) {
	defer p.readers.Done()
	for {
		w, err := ch.recv()
		if err != nil {
			// Closed by us, or the kernel went away: process exit and the
			// heartbeat report that.
			return
		}
		m, err := p.sess.decodeWire(w, ch.limit)
		if err != nil {
			if errors.Is(err, ErrBadSignature) {
				k.badSig.Add(1)
			} else {
				k.malformed.Add(1)
			}
			k.log.Debug().Err(err).Str("channel", ch.name).Msg("message dropped")
			continue
		}
		if m.cut {
			k.truncated.Add(1)
			k.log.Debug().Str("channel", ch.name).Int("limit", ch.limit).Msg("message over the limit cut short")
		}
		if !k.route(p, ch.name, m) {
			return
		}
	}
}

// route hands a message to the request it answers. It returns false when
// p's connection is closing.
func (k *Kernel) route(p *process, channel string, m *Message) bool {
	if channel == "iopub" {
		p.liveOnce.Do(func() { close(p.live) })
		if st, ok := m.Content.(*Status); ok {
			p.busy.Store(st.ExecutionState == "busy")
		}
	}
	r := k.lookup(m.ParentID())
	if r == nil {
		k.unclaimed.Add(1)
		return true
	}
	switch channel {
	case "shell", "control":
		select {
		case r.reply <- m:
		default: // a second reply to one request is ignored
		}
	case "stdin":
		select {
		case r.stdin <- m:
		case <-r.done:
		case <-p.ctx.Done():
			return false
		}
	case "iopub":
		// Back-pressure: a slow OnMessage slows reading (bounded memory)
		// rather than queueing without limit.
		select {
		case r.iopub <- m:
		case <-r.done:
		case <-p.ctx.Done():
			return false
		}
	}
	return true
}

// teardown kills p's process group, waits for it, and closes its sockets.
func (k *Kernel) teardown(p *process, why error) {
	if p.cmd != nil {
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		<-p.exited
	}
	p.markDead(fmt.Errorf("%w: %v", ErrKernelDied, why))
	p.closeSockets()
}

func (p *process) closeSockets() {
	p.cancel()
	for _, ch := range []*channel{p.shell, p.control, p.stdin, p.iopub, p.hb} {
		_ = ch.close()
	}
	if p.remote != nil {
		_ = p.remote.Close()
	}
	p.readers.Wait()
}

// environ is an environment list with set and get by name.
type environ []string

func (e *environ) set(name, value string) {
	prefix := name + "="
	for i, kv := range *e {
		if strings.HasPrefix(kv, prefix) {
			(*e)[i] = prefix + value
			return
		}
	}
	*e = append(*e, prefix+value)
}

func (e environ) without(name string) environ {
	prefix := name + "="
	out := e[:0:0]
	for _, kv := range e {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

func (e environ) get(name string) string {
	prefix := name + "="
	for _, kv := range e {
		if strings.HasPrefix(kv, prefix) {
			return kv[len(prefix):]
		}
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func (t *tailBuffer) tail(n int) string {
	var keep []string
	for _, line := range strings.Split(t.String(), "\n") {
		// ipykernel 7 warns about unencrypted tcp on every start; it is
		// noise next to the reason a kernel died.
		if !strings.Contains(line, "running over TCP without encryption") {
			keep = append(keep, line)
		}
	}
	s := strings.TrimSpace(strings.Join(keep, "\n"))
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	if s == "" {
		return "(none)"
	}
	return s
}

var _ io.Writer = (*tailBuffer)(nil)
