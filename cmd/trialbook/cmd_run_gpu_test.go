package main

import (
	"slices"
	"testing"
)

func TestParseGPUList(t *testing.T) {
	tests := []struct {
		name, out string
		want      []string
	}{
		// Printed by `nvidia-smi -L` on an H100 host.
		{"one", "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-93e0078b-8f9b-6a94-015c-025d7ad966f1)\n", []string{"0"}},
		{"two with MIG", "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1)\n  MIG 3g.20gb     Device  0: (UUID: MIG-a)\nGPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-2)\n", []string{"0", "1"}},
		{"none", "No devices were found\n", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		if got := parseGPUList(tt.out); !slices.Equal(got, tt.want) {
			t.Errorf("%s: parseGPUList = %q, want %q", tt.name, got, tt.want)
		}
	}
}
