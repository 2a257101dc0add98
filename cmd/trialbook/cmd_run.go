package main

import (
	"context"
	"errors"
)

// runRun is not built yet; its issue owns this file.
func runRun(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
