// Package kernel drives Jupyter kernels over the Jupyter messaging protocol
// on ZeroMQ, with no Python in between.
//
// # Discovery
//
// Specs and FindSpec find kernelspecs where jupyter_client does: JUPYTER_PATH,
// then the environment's share/jupyter and the user's data dir (environment
// first, as jupyter_core does inside a virtualenv; JUPYTER_PREFER_ENV_PATH
// flips it), then /usr/local/share/jupyter and /usr/share/jupyter. The
// environment defaults to $VIRTUAL_ENV, $CONDA_PREFIX, the nearest .venv
// above the working directory, or the .venv beside the binary's bin/, so the
// project's own kernel is found without activating anything.
//
//	spec, err := kernel.FindSpec("python3", kernel.SearchOptions{})
//
// # Lifecycle
//
// Start launches a kernel in its own process group (JPY_PARENT_PID set,
// {connection_file} and {resource_dir} substituted, env merged) on ports it
// holds reserved until the kernel has bound them, and returns when the kernel
// answers kernel_info and its iopub is live (iopub_welcome, or the status of a
// kernel_info_request), so no early output is lost.
//
//	k, err := kernel.Start(ctx, spec, kernel.StartOptions{Dir: dir, Env: map[string]string{"CUDA_VISIBLE_DEVICES": "0"}})
//	defer k.Shutdown(context.Background())
//
// Done is closed when the process exits or its heartbeat stops for 3 s (then
// it is killed); Err says why, wrapping ErrKernelDied. Interrupt sends SIGINT
// to the process group or an interrupt_request, per the spec's interrupt_mode.
// Restart brings up a new process on the same connection file and ports when
// they are free. Shutdown sends shutdown_request, then SIGTERM, then SIGKILL
// to the process group, and returns when no process of the group is left.
// Connect attaches to a kernel started elsewhere from its ConnectionInfo.
// Attach drives a kernel through any Transport and Remote; kernel/gateway
// uses it for kernels that a Jupyter Server runs.
//
// # Executing
//
//	reply, err := k.Execute(ctx, code, kernel.ExecuteOptions{OnMessage: func(m *kernel.Message) { ... }})
//
// Execute returns after both the execute_reply and the idle status of the
// request have arrived, in either order, having passed every iopub message of
// the request to OnMessage in order. An exception in the code is reported in
// the reply (reply.Status "error", reply.Err() an *ExecError); an aborted
// request has Status "aborted" (reply.Err() is ErrAborted). input() is
// answered by OnInput, or refused by the kernel when stdin is not allowed.
// Cancelling ctx interrupts the kernel. StartOptions.MaxOutput caps the stream
// text delivered per Execute; the rest is dropped with a note.
//
// # Pool
//
// NewPool (or NewPoolFunc, with options per kernel, e.g. a GPU each) keeps
// kernels starting in the background; Get hands one out and starts its
// replacement; Close shuts down the idle ones.
//
// # Messages and wire
//
// Message, Header and the content types (*Stream, *DisplayData,
// *UpdateDisplayData, *ExecuteResult, *Error, *Status, *ClearOutput,
// *ExecuteInput, *ExecuteReply, *KernelInfoReply, *InputRequest, ...) know
// nothing of ZeroMQ; contentFor is the one table from msg_type to type, and
// other types (comms, anything new) are kept as json.RawMessage. wire.go
// frames and signs them (identities, <IDS|MSG>, HMAC-SHA256 over the exact
// bytes received, compared in constant time; a bad signature is dropped and
// counted in Stats). zmtp.go carries frames over ZMTP using zmq4's Conn for
// the handshake and its own frame reader, which keeps at most
// StartOptions.MaxMessage bytes of a frame: a kernel sends all the text a
// cell printed in ~0.2 s as one message, which can be gigabytes. The rest of
// a longer frame is hashed as it streams past (the signature is checked on
// all of it) and dropped; a cut stream message keeps its text prefix and
// ends with a "[... N bytes dropped by trialbook ...]" note, any other cut
// message becomes a stderr note, counted in Stats.Truncated.
package kernel
