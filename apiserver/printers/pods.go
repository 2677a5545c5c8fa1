package printers

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeUnreachablePodReason is the status.reason the node lifecycle controller
// gives pods on a node that stopped reporting; such pods print as Unknown.
const nodeUnreachablePodReason = "NodeLost"

var podPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		stringColumn("Ready", "The aggregate readiness state of this pod for accepting traffic."),
		stringColumn("Status", "The aggregate status of the containers in this pod."),
		// A string, not an integer: it also tells when the last restart was, "3 (2m ago)".
		stringColumn("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
		ageColumn(),
		wide(stringColumn("IP", corev1.PodStatus{}.SwaggerDoc()["podIP"])),
		wide(stringColumn("Node", corev1.PodSpec{}.SwaggerDoc()["nodeName"])),
		wide(stringColumn("Nominated Node", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"])),
		wide(stringColumn("Readiness Gates", corev1.PodSpec{}.SwaggerDoc()["readinessGates"])),
	},
	Row: rowOf(podCells),
}

func podCells(pod *corev1.Pod, now time.Time) []interface{} {
	s := summarizePod(pod)
	return []interface{}{
		pod.Name,
		fmt.Sprintf("%d/%d", s.ready, s.total),
		s.status,
		s.restarts.cell(now),
		age(pod.CreationTimestamp, now),
		orNone(podIP(pod)),
		orNone(pod.Spec.NodeName),
		orNone(pod.Status.NominatedNodeName),
		readinessGates(pod),
	}
}

// podSummary is what kubectl shows in READY, STATUS and RESTARTS.
type podSummary struct {
	ready, total int
	status       string
	restarts     restartTally
}

// summarizePod condenses a pod's phase, conditions and container statuses into
// the one-word STATUS kubectl prints, the same way kube-apiserver's pod printer
// does:
//   - start from status.reason (e.g. Evicted) or else the phase;
//   - while init containers run, the first unfinished one decides
//     (Init:1/3, Init:CrashLoopBackOff, Init:Error, ...);
//   - afterwards the app containers' waiting/terminated reasons win
//     (ContainerCreating, CrashLoopBackOff, Completed, ExitCode:1, ...);
//   - a pod being deleted shows Terminating (or Unknown if its node is lost).
//
// Sidecars (init containers with restartPolicy: Always) keep running next to
// the app containers, so they count in READY's total and in RESTARTS.
func summarizePod(pod *corev1.Pod) podSummary {
	s := podSummary{total: len(pod.Spec.Containers), status: podPhaseStatus(pod)}
	sidecars := sidecarNames(pod)
	s.total += len(sidecars)

	var initRestarts, sidecarRestarts restartTally
	initializing := false
	for i, cs := range pod.Status.InitContainerStatuses {
		initRestarts.add(cs)
		isSidecar := sidecars[cs.Name]
		if isSidecar {
			sidecarRestarts.add(cs)
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode == 0 {
			continue // finished successfully
		}
		if isSidecar && cs.Started != nil && *cs.Started {
			if cs.Ready {
				s.ready++
			}
			continue // a started sidecar does not hold up initialization
		}
		s.status = initContainerStatus(cs, i, len(pod.Spec.InitContainers))
		initializing = true
		break
	}
	s.restarts = initRestarts

	if !initializing || podConditionIs(pod.Status.Conditions, corev1.PodInitialized, corev1.ConditionTrue) {
		// Once the pod is initialized, restarts of run-to-completion init
		// containers are history; only sidecars and app containers count.
		s.restarts = sidecarRestarts
		hasRunning := false
		// Walk backwards so that the first container's state has the last word.
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			s.restarts.add(cs)
			if reason, ok := containerStateReason(cs.State); ok {
				s.status = reason
			} else if cs.Ready && cs.State.Running != nil {
				hasRunning = true
				s.ready++
			}
		}
		// One container completed but another still runs: the pod as a whole
		// is running, or NotReady if it is not Ready.
		if s.status == "Completed" && hasRunning {
			if podConditionIs(pod.Status.Conditions, corev1.PodReady, corev1.ConditionTrue) {
				s.status = "Running"
			} else {
				s.status = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		switch {
		case pod.Status.Reason == nodeUnreachablePodReason:
			s.status = "Unknown"
		case pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed:
			s.status = "Terminating"
		}
	}
	return s
}

// podPhaseStatus is the starting point of STATUS: status.reason if set (e.g.
// Evicted), else the phase; a pod held back by scheduling gates shows
// SchedulingGated.
func podPhaseStatus(pod *corev1.Pod) string {
	status := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		status = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			status = corev1.PodReasonSchedulingGated
		}
	}
	return status
}

// sidecarNames returns the restartable init containers ("sidecars").
func sidecarNames(pod *corev1.Pod) map[string]bool {
	sidecars := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
		}
	}
	return sidecars
}

// initContainerStatus is STATUS while the init container at index holds up
// the pod: its failure or waiting reason, or else progress as Init:index/count.
func initContainerStatus(cs corev1.ContainerStatus, index, count int) string {
	switch {
	case cs.State.Terminated != nil:
		return "Init:" + terminatedReason(cs.State.Terminated)
	case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
		return "Init:" + cs.State.Waiting.Reason
	default:
		return fmt.Sprintf("Init:%d/%d", index, count)
	}
}

// containerStateReason is the reason a waiting or terminated container gives
// to STATUS; a running container gives none.
func containerStateReason(state corev1.ContainerState) (string, bool) {
	if w := state.Waiting; w != nil && w.Reason != "" {
		return w.Reason, true
	}
	if t := state.Terminated; t != nil {
		return terminatedReason(t), true
	}
	return "", false
}

// terminatedReason names a termination by its reason (Completed, Error,
// OOMKilled), or failing that by the signal or exit code.
func terminatedReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	default:
		return fmt.Sprintf("ExitCode:%d", t.ExitCode)
	}
}

// restartTally adds up container restarts and remembers when the most recent
// one happened (the finishedAt of a container's last termination).
type restartTally struct {
	count int
	last  time.Time
}

func (t *restartTally) add(cs corev1.ContainerStatus) {
	t.count += int(cs.RestartCount)
	if term := cs.LastTerminationState.Terminated; term != nil && term.FinishedAt.After(t.last) {
		t.last = term.FinishedAt.Time
	}
}

// cell renders RESTARTS: "3 (2m ago)", or just the count when there were no
// restarts or no termination time is known.
func (t restartTally) cell(now time.Time) string {
	if t.count == 0 || t.last.IsZero() {
		return strconv.Itoa(t.count)
	}
	return fmt.Sprintf("%d (%s ago)", t.count, age(metav1.NewTime(t.last), now))
}

// podIP is the pod's primary IP. In the v1 API it appears both as podIP and
// podIPs[0]; kube-apiserver treats podIP as authoritative when converting.
func podIP(pod *corev1.Pod) string {
	if pod.Status.PodIP != "" {
		return pod.Status.PodIP
	}
	if len(pod.Status.PodIPs) > 0 {
		return pod.Status.PodIPs[0].IP
	}
	return ""
}

// readinessGates renders READINESS GATES as "true/total", counting gates whose
// condition is present with status True.
func readinessGates(pod *corev1.Pod) string {
	if len(pod.Spec.ReadinessGates) == 0 {
		return none
	}
	met := 0
	for _, gate := range pod.Spec.ReadinessGates {
		if podConditionIs(pod.Status.Conditions, gate.ConditionType, corev1.ConditionTrue) {
			met++
		}
	}
	return fmt.Sprintf("%d/%d", met, len(pod.Spec.ReadinessGates))
}

// podConditionIs reports whether the first condition of the given type has the
// given status.
func podConditionIs(conditions []corev1.PodCondition, t corev1.PodConditionType, status corev1.ConditionStatus) bool {
	for _, c := range conditions {
		if c.Type == t {
			return c.Status == status
		}
	}
	return false
}
