package params

import (
	"strings"
	"testing"
)

func schema() Schema {
	return Schema{
		"address": {Kind: KindCIDR, Required: true},
		"count":   {Kind: KindInt, Default: "5"},
		"env":     {Kind: KindMap},
		"tables":  {Kind: KindList},
	}
}

func TestCheckAcceptsValidParams(t *testing.T) {
	if err := schema().Check("ipaddr", map[string]string{"address": "198.18.0.1/24", "count": "3", "env.FOO": "x", "tables": "a,b"}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckNamesEveryProblem(t *testing.T) {
	err := schema().Check("ipaddr", map[string]string{"adress": "198.18.0.1/24", "count": "many", "env": "x", "tables": "a,,b"})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`unknown parameter "adress" (known: address, count, env, tables)`,
		`count: "many" is not an integer`,
		`parameter "env" must be a map`,
		"list must not contain empty elements",
		`parameter "address" is required`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestDocOrderPutsRequiredFirst(t *testing.T) {
	if got := strings.Join(schema().DocOrder(), ","); got != "address,count,env,tables" {
		t.Fatalf("DocOrder = %s", got)
	}
	s := Schema{"b": {Required: true}, "a": {}, "c": {Required: true}}
	if got := strings.Join(s.DocOrder(), ","); got != "b,c,a" {
		t.Fatalf("DocOrder = %s", got)
	}
}

func TestCheckValueKinds(t *testing.T) {
	for _, c := range []struct {
		k  Kind
		v  string
		ok bool
	}{
		{KindBool, "true", true}, {KindBool, "yes", false},
		{KindDuration, "200ms", true}, {KindDuration, "2", false},
		{KindHostPort, "198.18.0.1:80", true}, {KindHostPort, "198.18.0.1:0", false}, {KindHostPort, ":80", false},
		{KindIP, "2001:db8::1", true}, {KindIP, "198.18.0.1/24", false},
		{KindCIDR, "198.18.0.1", false},
	} {
		if msg := CheckValue(c.k, c.v); (msg == "") != c.ok {
			t.Errorf("CheckValue(%s, %q) = %q, want ok=%v", c.k, c.v, msg, c.ok)
		}
	}
}
