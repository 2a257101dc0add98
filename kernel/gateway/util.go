package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func deadlineSoon() time.Time { return time.Now().Add(time.Second) }
