package main

import (
	"context"
	"errors"
)

// runExec is not built yet; its issue owns this file.
func runExec(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
