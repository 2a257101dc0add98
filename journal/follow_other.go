//go:build !linux

package journal

func newWaker(dir string) waker { return newTickWaker() }
