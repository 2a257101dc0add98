package main

import (
	"context"
	"errors"
)

// runInit is not built yet; its issue owns this file.
func runInit(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
