package main

// The fan-out part's output: one row per phase with its verdict, and the
// summary against the goal and the anchor.

import (
	"fmt"
	"time"
)

func printPhaseHeader() {
	fmt.Printf("\n%-40s %7s %11s %13s %9s %9s %9s %6s %7s\n", "phase", "calls", "deliveries", "deliveries/s", "p50", "p99", "max", "goal", "anchor")
}

// micros prints a latency in µs, rounded to 10 µs.
func micros(v int64) string {
	return (time.Duration(v) * time.Microsecond).Round(10 * time.Microsecond).String()
}

// phaseVerdict judges a phase: flat out on its throughput, paced on its p99
// (its rate is the pace); lost deliveries fail either.
func phaseVerdict(paced bool, delivered, expect int, rate float64, p99 time.Duration) string {
	switch {
	case delivered < expect:
		return "LOST deliveries"
	case !paced && rate >= fanoutGoal:
		return "throughput meets goal"
	case !paced:
		return "throughput below goal"
	case p99 < fanoutGoalP99:
		return "p99 meets goal"
	default:
		return "p99 over goal"
	}
}

// printPhase prints a phase's row and notes and returns its verdict.
// framesPerWrite is 0 when not measured (the baselines).
func printPhase(ph fanoutPhase, res childMsg, expect int, rate float64, wall, serverCPU time.Duration, framesPerWrite float64) string {
	verdict := phaseVerdict(ph.rate != 0, res.Delivered, expect, rate, time.Duration(res.P99us)*time.Microsecond)
	fmt.Printf("%-40s %7d %11d %13.0f %9s %9s %9s %5.2fx %6.0fx  %s\n", ph.name, ph.messages, res.Delivered, rate,
		micros(res.P50us), micros(res.P99us), micros(res.MaxUs), rate/fanoutGoal, rate/fanoutAnchorUnit, verdict)
	fmt.Printf("%-40s cpu: server %.2f cores, clients %.2f cores, over %s", "",
		serverCPU.Seconds()/wall.Seconds(), float64(res.CPUNs)/1e9/wall.Seconds(), wall.Round(time.Millisecond))
	if framesPerWrite > 0 {
		fmt.Printf("; %.2f frames per write", framesPerWrite)
	}
	fmt.Println()
	if res.Bad > 0 {
		fmt.Printf("%-40s %d frames arrived without a send time (not counted)\n", "", res.Bad)
	}
	if res.Delivered < expect {
		fmt.Printf("%-40s only %d of %d deliveries arrived\n", "", res.Delivered, expect)
	}
	return verdict
}

// printFanoutSummary prints the comparison with the baseline, the verdicts
// and how to read the table, for n clients.
func printFanoutSummary(allCapacity, bareCapacity float64, summary []string, n int) {
	fmt.Printf("\nSendToAll flat out: emulator = %.2fx the bare coder/websocket fan-out baseline in this run\n", allCapacity/bareCapacity)
	fmt.Printf("\nverdict against the goal (throughput flat out; p99 while paced at the goal's rate):\n")
	for _, l := range summary {
		fmt.Println("  " + l)
	}
	fmt.Printf("\ngoal: >= %.0f deliveries/s with p99 < %s on this machine; anchor: Microsoft's %.0f outbound msgs/s per unit (%.0f/s at 100 units = %.2fx of the goal)\n",
		fanoutGoal, fanoutGoalP99, fanoutAnchorUnit, fanoutAnchor100, fanoutAnchor100/fanoutGoal)
	fmt.Println("columns: goal = deliveries/s ÷ 300,000; anchor = deliveries/s ÷ 3,000 (one unit); latency = REST call start → client receipt.")
	fmt.Println("The clients run on the same 2 cores (their CPU is shown): the server alone has less than the whole machine.")
	fmt.Println("The floor rows show what one system call per frame allows here: at the goal's rate every client gets")
	fmt.Printf("%.0f messages/s, so more deliveries per second need several frames per write (the emulator batches under load).\n", fanoutGoal/float64(n))
}
