package main

import (
	"context"
	"errors"
)

// runStatus is not built yet; its issue owns this file.
func runStatus(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
