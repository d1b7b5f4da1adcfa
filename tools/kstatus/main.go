// Command kstatus reads one Kubernetes object as JSON (or YAML) on stdin and prints the status
// that kstatus (sigs.k8s.io/cli-utils/pkg/kstatus, the library Flux, kpt and cli-utils use to
// decide whether a resource is reconciled) computes for it, as one JSON line:
//
//	{"status":"Current","message":"Resource is current"}
//
// The appauth-operator tests feed it real objects written by the operator to show that
// Ready, Reconciling and Stalled map to Current, InProgress and Failed.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type output struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: reading stdin: %v\n", err)
		os.Exit(2)
	}
	// YAML is a superset of JSON: accept both.
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: parsing the object: %v\n", err)
		os.Exit(2)
	}
	// The unstructured decoder keeps integers as int64, which kstatus' accessors expect.
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(js); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: the input is not one object: %v\n", err)
		os.Exit(2)
	}
	res, err := status.Compute(obj)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(output{Status: res.Status.String(), Message: res.Message})
	fmt.Println(string(out))
}
