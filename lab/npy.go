package lab

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Array is a float64 array read from a .npy file: one or two dimensions.
type Array struct {
	Shape []int
	Data  []float64 // row-major
}

var (
	npyDescr   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// ReadNpy reads a NumPy .npy file (format 1.0-3.0) of little-endian floats
// (f8 or f4) or integers (i8, i4), in C order, as float64s.
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
func ReadNpy(path string) (Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return Array{}, err
	}
	defer f.Close()
	a, err := decodeNpy(bufio.NewReader(f))
	if err != nil {
		return Array{}, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

func decodeNpy(r io.Reader) (Array, error) {
	var magic [8]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return Array{}, fmt.Errorf("not a .npy file: %w", err)
	}
	if string(magic[:6]) != "\x93NUMPY" {
		return Array{}, errors.New("not a .npy file: bad magic")
	}
	var hlen int
	switch magic[6] {
	case 1:
		var n uint16
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return Array{}, err
		}
		hlen = int(n)
	case 2, 3:
		var n uint32
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return Array{}, err
		}
		hlen = int(n)
	default:
		return Array{}, fmt.Errorf("unsupported .npy version %d", magic[6])
	}
	if hlen > 1<<20 {
		return Array{}, fmt.Errorf(".npy header of %d bytes is too long", hlen)
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(r, header); err != nil {
		return Array{}, fmt.Errorf("short .npy header: %w", err)
	}
	h := string(header)
	descr := npyDescr.FindStringSubmatch(h)
	fortran := npyFortran.FindStringSubmatch(h)
	shapeM := npyShape.FindStringSubmatch(h)
	if descr == nil || fortran == nil || shapeM == nil {
		return Array{}, fmt.Errorf("malformed .npy header %q", h)
	}
	if fortran[1] == "True" {
		return Array{}, errors.New("Fortran-ordered arrays are not supported; save a C-ordered array (np.ascontiguousarray)")
	}
	var shape []int
	n := 1
	for _, s := range strings.Split(shapeM[1], ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		d, err := strconv.Atoi(s)
		if err != nil || d < 0 {
			return Array{}, fmt.Errorf("bad .npy shape %q", shapeM[1])
		}
		shape = append(shape, d)
		n *= d
	}
	var size int
	var conv func([]byte) float64
	switch descr[1] {
	case "<f8":
		size, conv = 8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
	case "<f4":
		size, conv = 4, func(b []byte) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) }
	case "<i8":
		size, conv = 8, func(b []byte) float64 { return float64(int64(binary.LittleEndian.Uint64(b))) }
	case "<i4":
		size, conv = 4, func(b []byte) float64 { return float64(int32(binary.LittleEndian.Uint32(b))) }
	default:
		return Array{}, fmt.Errorf("unsupported .npy dtype %q: save float64 (np.asarray(x, dtype='float64'))", descr[1])
	}
	buf := make([]byte, n*size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return Array{}, fmt.Errorf("truncated .npy data: want %d values: %w", n, err)
	}
	data := make([]float64, n)
	for i := range data {
		data[i] = conv(buf[i*size:])
	}
	return Array{Shape: shape, Data: data}, nil
}

// WriteNpy writes a float64 array as a version 1.0 .npy file.
func WriteNpy(path string, a Array) error {
	dims := make([]string, len(a.Shape))
	for i, d := range a.Shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := strings.Join(dims, ", ")
	if len(dims) == 1 {
		shape += ","
	}
	h := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }", shape)
	// Pad so that the data starts on a 64-byte boundary, ending in a newline.
	total := 10 + len(h) + 1
	h += strings.Repeat(" ", (64-total%64)%64) + "\n"
	buf := make([]byte, 0, 10+len(h)+8*len(a.Data))
	buf = append(buf, "\x93NUMPY\x01\x00"...)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(h)))
	buf = append(buf, h...)
	for _, v := range a.Data {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
	}
	return os.WriteFile(path, buf, 0o644)
}
