package ipynb

import (
	"encoding/json"
	"strings"
	"testing"
)

type msg struct {
	typ, content string
}

func feed(t *testing.T, b *OutputBuilder, msgs ...msg) {
	t.Helper()
	for _, m := range msgs {
		if _, err := b.Add(m.typ, json.RawMessage(m.content)); err != nil {
			t.Fatalf("Add(%s): %v", m.typ, err)
		}
	}
}

func texts(c *Cell) []string {
	var out []string
	for _, o := range c.Outputs {
		switch o.OutputType {
		case StreamOutput:
			out = append(out, o.Name+":"+o.Text)
		case ErrorOutput:
			out = append(out, "error:"+o.EName)
		default:
			s, _ := o.Data["text/plain"].(string)
			out = append(out, o.OutputType+":"+s)
		}
	}
	return out
}

func TestOutputBuilderFollowsNbclient(t *testing.T) {
	nb := New()
	nb.Cells = []*Cell{NewCodeCell("a"), NewMarkdownCell("m"), NewCodeCell("b")}
	b := NewOutputBuilder(nb, 0)

	b.StartCell(0)
	feed(t, b,
		msg{"status", `{"execution_state": "busy"}`},
		msg{"execute_input", `{"code": "a", "execution_count": 1}`},
		msg{"stream", `{"name": "stdout", "text": "one\n"}`},
		msg{"stream", `{"name": "stdout", "text": "two\n"}`},
		msg{"display_data", `{"data": {"text/plain": "v1"}, "metadata": {}, "transient": {"display_id": "h"}}`},
		msg{"execute_result", `{"data": {"text/plain": "42"}, "metadata": {}, "execution_count": 1}`},
		msg{"some_future_type", `{"x": 1}`},
		msg{"status", `{"execution_state": "idle"}`},
	)
	if got, want := strings.Join(texts(nb.Cells[0]), "|"), "stdout:one\n|stdout:two\n|display_data:v1|execute_result:42"; got != want {
		t.Errorf("cell 0 outputs = %q, want %q", got, want)
	}
	if ec := nb.Cells[0].ExecutionCount; ec == nil || *ec != 1 {
		t.Errorf("execution_count = %v, want 1", ec)
	}

	b.StartCell(2)
	feed(t, b,
		msg{"execute_input", `{"code": "b", "execution_count": 2}`},
		msg{"stream", `{"name": "stdout", "text": "before clear"}`},
		msg{"clear_output", `{"wait": true}`},
		msg{"update_display_data", `{"data": {"text/plain": "v2"}, "metadata": {"m": 1}, "transient": {"display_id": "h"}}`},
	)
	// A waiting clear keeps outputs until the next output arrives.
	if got := texts(nb.Cells[2]); len(got) != 1 {
		t.Errorf("after clear_output(wait=True) outputs = %q, want the one output kept", got)
	}
	feed(t, b, msg{"stream", `{"name": "stderr", "text": "after"}`})
	if got, want := strings.Join(texts(nb.Cells[2]), "|"), "stderr:after"; got != want {
		t.Errorf("cell 2 outputs = %q, want %q", got, want)
	}
	// The update from cell 2 rewrote the display in cell 0.
	if got := texts(nb.Cells[0])[2]; got != "display_data:v2" {
		t.Errorf("updated display = %q, want display_data:v2", got)
	}
	if got := nb.Cells[0].Outputs[2].Metadata["m"]; got != json.Number("1") {
		t.Errorf("updated display metadata m = %v, want 1", got)
	}
	// An immediate clear empties at once.
	feed(t, b, msg{"clear_output", `{"wait": false}`})
	if got := texts(nb.Cells[2]); len(got) != 0 {
		t.Errorf("after clear_output outputs = %q, want none", got)
	}
	// Re-running cell 0 forgets its display mapping: a later update changes nothing there.
	b.StartCell(0)
	feed(t, b, msg{"update_display_data", `{"data": {"text/plain": "v3"}, "metadata": {}, "transient": {"display_id": "h"}}`})
	if got := texts(nb.Cells[0]); len(got) != 0 {
		t.Errorf("re-run cell outputs = %q, want none", got)
	}
}

func TestOutputBuilderCap(t *testing.T) {
	nb := New()
	nb.Cells = []*Cell{NewCodeCell("a")}
	b := NewOutputBuilder(nb, 100)
	b.StartCell(0)
	line, _ := json.Marshal(map[string]string{"name": "stdout", "text": strings.Repeat("é", 15)}) // 30 bytes
	for range 10 {
		feed(t, b, msg{"stream", string(line)})
	}
	feed(t, b, msg{"error", `{"ename": "E", "evalue": "v", "traceback": []}`})
	c := nb.Cells[0]
	kept := 0
	var note string
	for _, o := range c.Outputs {
		if o.OutputType != StreamOutput {
			continue
		}
		if strings.Contains(o.Text, "[trialbook] output truncated") {
			note = o.Text
			continue
		}
		kept += len(o.Text)
		if !strings.HasPrefix(o.Text, "é") || len(o.Text)%2 != 0 {
			t.Errorf("kept text %q was cut inside a character", o.Text)
		}
	}
	if kept > 100 || kept < 90 {
		t.Errorf("kept %d bytes, want about the 100-byte cap", kept)
	}
	if !strings.Contains(note, "100 bytes cap; 200 bytes more was not kept") {
		t.Errorf("note = %q, want it to say the cap and how much was dropped", note)
	}
	if last := c.Outputs[len(c.Outputs)-1]; last.OutputType != ErrorOutput {
		t.Errorf("last output = %s, want the error kept past the cap", last.OutputType)
	}
	// A clear_output starts the budget over.
	feed(t, b, msg{"clear_output", `{}`}, msg{"stream", string(line)})
	if got := texts(c); len(got) != 1 {
		t.Errorf("after clear outputs = %q, want 1", got)
	}
}
