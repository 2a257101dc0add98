package mcpserver

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Resources: AGENTS.md and each trial notebook, read-only. Nothing else in
// the folder is served (the private .trialbook/ holds the holdout labels).
const (
	uriPrefix    = "trialbook:///"
	agentsMDURI  = uriPrefix + "AGENTS.md"
	notebookMIME = "application/x-ipynb+json"
)

func (s *Server) addResources() {
	s.srv.AddResource(&mcp.Resource{URI: agentsMDURI, Name: "AGENTS.md", Title: "Instructions for agents",
		Description: "The experiment's instructions: objective, data, validation, the setup cell, the hand-back contract, budget and rules.",
		MIMEType:    "text/markdown"}, s.readResource)
	s.srv.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: uriPrefix + "trials/{notebook}", Name: "trial notebook",
		Description: "A trial's notebook (nbformat JSON), e.g. trialbook:///trials/001-baseline.ipynb",
		MIMEType:    notebookMIME}, s.readResource)
	for _, t := range s.x.State().Trials {
		if t.Notebook != "" {
			s.addNotebook(t.Notebook)
		}
	}
}

// addNotebook lists a trial notebook (rel to the folder) as a resource.
func (s *Server) addNotebook(rel string) {
	s.srv.AddResource(&mcp.Resource{URI: uriPrefix + rel, Name: path.Base(rel), Description: "trial notebook " + rel,
		MIMEType: notebookMIME}, s.readResource)
}

// readResource reads AGENTS.md or a notebook under trials/.
func (s *Server) readResource(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	rel, ok := strings.CutPrefix(uri, uriPrefix)
	mime := "text/markdown"
	switch {
	case ok && rel == "AGENTS.md":
	case ok && strings.HasPrefix(rel, "trials/") && strings.HasSuffix(rel, ".ipynb") &&
		path.Clean(rel) == rel && !strings.Contains(rel[len("trials/"):], "/"):
		mime = notebookMIME
	default:
		return nil, mcp.ResourceNotFoundError(uri)
	}
	data, err := os.ReadFile(filepath.Join(s.opts.Dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: mime, Text: string(data)}}}, nil
}
