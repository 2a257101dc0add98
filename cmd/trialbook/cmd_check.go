package main

import (
	"context"
	"errors"
)

// runCheck is not built yet; its issue owns this file.
func runCheck(ctx context.Context, a *app, args []string) error {
	return errors.New("not built yet")
}
