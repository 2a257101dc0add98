package kernel

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ConnectionInfo is a kernel connection file, as jupyter_client writes it.
// https://jupyter-client.readthedocs.io/en/stable/kernels.html#connection-files
type ConnectionInfo struct {
	Transport       string `json:"transport"` // "tcp" or "ipc"
	IP              string `json:"ip"`        // for ipc, the path prefix of the socket files
	ShellPort       int    `json:"shell_port"`
	IOPubPort       int    `json:"iopub_port"`
	StdinPort       int    `json:"stdin_port"`
	ControlPort     int    `json:"control_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"`
	SignatureScheme string `json:"signature_scheme"`
	KernelName      string `json:"kernel_name"`
}

// Endpoint returns the ZeroMQ address of a port of this connection.
func (c ConnectionInfo) Endpoint(port int) string {
	if c.Transport == "ipc" {
		return "ipc://" + c.IP + "-" + strconv.Itoa(port)
	}
	return "tcp://" + net.JoinHostPort(c.IP, strconv.Itoa(port))
}

// ReadConnectionFile reads a connection file written by any Jupyter tool.
func ReadConnectionFile(path string) (ConnectionInfo, error) {
	var c ConnectionInfo
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("kernel: read connection file: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("kernel: connection file %s: %w", path, err)
	}
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.SignatureScheme != "" && c.SignatureScheme != "hmac-sha256" {
		return c, fmt.Errorf("kernel: connection file %s: signature_scheme %q is not supported, want hmac-sha256", path, c.SignatureScheme)
	}
	for name, p := range map[string]int{"shell_port": c.ShellPort, "iopub_port": c.IOPubPort, "stdin_port": c.StdinPort, "control_port": c.ControlPort, "hb_port": c.HBPort} {
		if p <= 0 {
			return c, fmt.Errorf("kernel: connection file %s: %s is %d, want a port number", path, name, p)
		}
	}
	return c, nil
}

// writeConnectionFile writes c to path readable by its owner only, as
// jupyter_client does: the key in it lets anyone run code in the kernel.
func writeConnectionFile(path string, c ConnectionInfo) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("kernel: write connection file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("kernel: write connection file: %w", err)
	}
	return nil
}

func newKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// portReservation holds five TCP ports until the kernel has bound them.
//
// Picking a free port by binding to port 0 and closing races with every other
// process doing the same (and with eight kernels starting at once). Instead
// each port stays bound, with SO_REUSEADDR and never listening, until the
// kernel is ready: the OS will not hand it out again to another bind to port
// 0, while ZeroMQ (which sets SO_REUSEADDR on its listeners) can still bind it
// because ours is not listening.
type portReservation struct {
	fds   []int
	ports []int
}

func reservePorts(ip string, n int) (*portReservation, error) {
	addr := net.ParseIP(ip)
	if addr == nil {
		return nil, fmt.Errorf("kernel: ip %q is not an IP address", ip)
	}
	r := &portReservation{}
	for range n {
		fd, port, err := reservePort(addr)
		if err != nil {
			r.release()
			return nil, fmt.Errorf("kernel: reserve port on %s: %w", ip, err)
		}
		r.fds = append(r.fds, fd)
		r.ports = append(r.ports, port)
	}
	return r, nil
}

func reservePort(ip net.IP) (fd, port int, err error) {
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if ip4 := ip.To4(); ip4 != nil {
		a := &syscall.SockaddrInet4{}
		copy(a.Addr[:], ip4)
		sa = a
	} else {
		family = syscall.AF_INET6
		a := &syscall.SockaddrInet6{}
		copy(a.Addr[:], ip.To16())
		sa = a
	}
	fd, err = syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	if err = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return -1, 0, err
	}
	if err = syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, 0, err
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return -1, 0, err
	}
	switch a := got.(type) {
	case *syscall.SockaddrInet4:
		port = a.Port
	case *syscall.SockaddrInet6:
		port = a.Port
	}
	return fd, port, nil
}

func (r *portReservation) release() {
	if r == nil {
		return
	}
	for _, fd := range r.fds {
		syscall.Close(fd)
	}
	r.fds = nil
}

// runtimeDir is where connection files go: $JUPYTER_RUNTIME_DIR, else
// $XDG_RUNTIME_DIR/jupyter, else ~/.local/share/jupyter/runtime, as
// jupyter_core's jupyter_runtime_dir.
func runtimeDir(getenv func(string) string) string {
	if d := getenv("JUPYTER_RUNTIME_DIR"); d != "" {
		return d
	}
	return filepath.Join(dataDir(getenv), "runtime")
}

// newConnection returns connection info for a new kernel with fresh ports
// (held by the returned reservation for tcp) and a fresh key.
func newConnection(transport, ip, ipcPrefix, kernelName string) (ConnectionInfo, *portReservation, error) {
	c := ConnectionInfo{Transport: transport, IP: ip, Key: newKey(), SignatureScheme: "hmac-sha256", KernelName: kernelName}
	switch transport {
	case "ipc":
		// jupyter_client numbers ipc "ports" from 1 and skips files that exist.
		c.IP = ipcPrefix
		var ports []int
		for p := 1; len(ports) < 5; p++ {
			if _, err := os.Stat(c.IP + "-" + strconv.Itoa(p)); os.IsNotExist(err) {
				ports = append(ports, p)
			}
		}
		c.ShellPort, c.IOPubPort, c.StdinPort, c.ControlPort, c.HBPort = ports[0], ports[1], ports[2], ports[3], ports[4]
		return c, nil, nil
	case "tcp":
		r, err := reservePorts(ip, 5)
		if err != nil {
			return c, nil, err
		}
		c.ShellPort, c.IOPubPort, c.StdinPort, c.ControlPort, c.HBPort = r.ports[0], r.ports[1], r.ports[2], r.ports[3], r.ports[4]
		return c, r, nil
	}
	return c, nil, fmt.Errorf("kernel: transport %q is not supported, want tcp or ipc", transport)
}
