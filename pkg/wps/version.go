package wps

import "runtime"

func goVersion() string { return runtime.Version() }
