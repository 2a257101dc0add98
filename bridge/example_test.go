package bridge_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"trialbook/bridge"
)

// A bridge over a folder of experiments, and a client that calls it as the
// panel does.
func Example() {
	root, _ := os.MkdirTemp("", "experiments")
	defer os.RemoveAll(root)
	os.MkdirAll(filepath.Join(root, "house-prices"), 0o755)
	os.WriteFile(filepath.Join(root, "house-prices", "journal.jsonl"),
		[]byte(`{"seq":1,"time":"2026-11-25T14:00:00Z","type":"experiment.created","problem":{"name":"house-prices","task":"regression","target":"SalePrice","metric":"rmse","direction":"minimize","validation":"kfold, 5 folds","trials":20,"agent":"builtin"}}`+"\n"), 0o644)

	srv, err := bridge.New(bridge.Options{Root: root}) // a random token; no controls
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()

	get := func(token string) {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/experiments/house-prices", nil)
		if token != "" {
			req.Header.Set("Authorization", "token "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, len(body) > 100)
	}
	get("")          // refused
	get(srv.Token()) // the snapshot
	stop()
	fmt.Println(<-done)
	// Output:
	// 401 false
	// 200 true
	// <nil>
}
