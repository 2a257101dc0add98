package kernel_test

import (
	"context"
	"fmt"
	"time"

	"trialbook/kernel"
)

// Run one cell in a fresh kernel from the project's environment and print
// its stream output.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec, err := kernel.FindSpec("python3", kernel.SearchOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	k, err := kernel.Start(ctx, spec, kernel.StartOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer k.Shutdown(context.Background())

	reply, err := k.Execute(ctx, "print(6 * 7)", kernel.ExecuteOptions{
		OnMessage: func(m *kernel.Message) {
			if s, ok := m.Content.(*kernel.Stream); ok {
				fmt.Print(s.Text)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reply.Status)
}

// A pool keeps kernels warm; each gets its own GPU.
func ExampleNewPoolFunc() {
	ctx := context.Background()
	spec, _ := kernel.FindSpec("", kernel.SearchOptions{})
	pool := kernel.NewPoolFunc(ctx, spec, 2, func(i int) kernel.StartOptions {
		return kernel.StartOptions{Env: map[string]string{"CUDA_VISIBLE_DEVICES": fmt.Sprint(i % 2)}}
	})
	defer pool.Close(ctx)
	k, err := pool.Get(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer k.Shutdown(ctx)
	// ... run a trial on k
}
