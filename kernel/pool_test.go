package kernel

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestPool(t *testing.T) {
	spec := testSpec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	p := NewPoolFunc(ctx, spec, 1, func(i int) StartOptions {
		return StartOptions{RuntimeDir: dir, Env: map[string]string{"TRIALBOOK_POOL_INDEX": strconv.Itoa(i)}}
	})
	var pgids []int
	for want := range 2 {
		k, err := p.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pgids = append(pgids, k.Pid())
		c := &collected{}
		if _, err := k.Execute(ctx, "import os; print(os.environ['TRIALBOOK_POOL_INDEX'])", ExecuteOptions{OnMessage: c.on}); err != nil {
			t.Fatal(err)
		}
		if got := c.stdout.String(); got != strconv.Itoa(want)+"\n" {
			t.Errorf("kernel %d saw index %q", want, got)
		}
		if err := k.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A replacement for the second kernel is starting or ready; Close ends it.
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get(ctx); err != ErrPoolClosed {
		t.Errorf("Get after Close: %v, want ErrPoolClosed", err)
	}
	for _, g := range pgids {
		assertGroupGone(t, g)
	}
	if pids := processesMentioning(t, dir); len(pids) > 0 {
		t.Errorf("processes left after Close: %v", pids)
	}
}

func TestPoolReportsStartErrors(t *testing.T) {
	spec := &Spec{Name: "broken", Argv: []string{"/nonexistent/python", "{connection_file}"}, InterruptMode: "signal"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := NewPool(ctx, spec, 1, StartOptions{RuntimeDir: t.TempDir()})
	defer p.Close(ctx)
	if _, err := p.Get(ctx); err == nil {
		t.Fatal("Get from a pool of a broken spec returned no error")
	}
}
