package main

import (
	"slices"
	"testing"
	"time"
)

func TestProbeArgv(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want []string
	}{
		{[]string{"py", "-m", "ipykernel_launcher", "-f", "{connection_file}"}, []string{"py", "P", "-f", "{connection_file}"}},
		{[]string{"py", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "c"}, []string{"py", "-Xfrozen_modules=off", "P", "-f", "c"}},
		{[]string{"py", "-m", "ipykernel", "-f", "c"}, nil},
		{[]string{"py", "launcher.py", "-m", "ipykernel_launcher"}, nil},
		{[]string{"R", "--slave"}, nil},
	} {
		got, ok := probeArgv(c.argv, "P")
		if ok != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("probeArgv(%q) = %q, %v; want %q", c.argv, got, ok, c.want)
		}
	}
}

func TestByRequest(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(100, int64(ms)*1e6) }
	events := []probeEvent{
		{"iopub_sent", "old", "status:idle", at(0)},
		{"shell_recv", "a", "execute_request", at(1)},
		{"main_recv", "a", "execute_request", at(2)},
		{"iopub_sent", "a", "status:busy", at(3)},
		{"shell_recv", "b", "execute_request", at(4)}, // before a's idle write is recorded
		{"iopub_sent", "a", "execute_input", at(5)},
		{"iopub_sent", "a", "status:idle", at(6)},
	}
	r := byRequest(events)
	a := r["a"]
	if a == nil || !a.shellRecv.Equal(at(1)) || !a.mainRecv.Equal(at(2)) || !a.idleSent.Equal(at(6)) {
		t.Fatalf("request a: %+v", a)
	}
	if b := r["b"]; b == nil || !b.idleSent.IsZero() || !b.mainRecv.IsZero() {
		t.Fatalf("request b: %+v", b)
	}
}
