// Package kernel drives Jupyter kernels over the Jupyter messaging protocol
// on ZeroMQ, with no Python in between.
//
// Discovery finds kernelspecs where jupyter_client does:
//
//	specs, err := kernel.Specs(kernel.SearchOptions{})
//	spec, err := kernel.FindSpec("python3", kernel.SearchOptions{})
//
// Start launches a kernel from a spec in its own process group and returns
// when it is ready (it answers and its iopub channel is live):
//
//	k, err := kernel.Start(ctx, spec, kernel.StartOptions{Dir: dir, Env: map[string]string{"CUDA_VISIBLE_DEVICES": "0"}})
//	defer k.Shutdown(context.Background())
//	reply, err := k.Execute(ctx, "print(1)", kernel.ExecuteOptions{OnMessage: func(m *kernel.Message) { ... }})
//
// Execute returns after both the execute_reply and the idle status of the
// request; cancelling ctx interrupts the kernel; a dead kernel gives an error
// wrapping ErrKernelDied (Done and Err say so too) and Restart brings it back.
// Shutdown sends shutdown_request, then SIGTERM, then SIGKILL to the process
// group, so no process of the kernel outlives it.
//
// A Pool keeps kernels warm: NewPool starts them in the background and Get
// hands one out and starts its replacement.
//
// Messages (Message, Header and the typed contents such as *Stream,
// *DisplayData, *ExecuteResult, *Error) are independent of ZeroMQ; the wire
// code (frames, <IDS|MSG>, HMAC-SHA256) lives in wire.go.
package kernel
