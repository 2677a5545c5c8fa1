package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Container states, as the kubelet reports them.
func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func terminated(reason string, exitCode, signal int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode, Signal: signal, FinishedAt: ago(time.Minute)}}
}

// lastTerminated is a lastState of a container that last stopped d ago.
func lastTerminated(d time.Duration) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, FinishedAt: ago(d)}}
}

func status(name string, state corev1.ContainerState, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: state, Ready: ready}
}

func cond(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s}
}

// pod builds a pod with app containers named after statuses' names.
func pod(phase corev1.PodPhase, statuses ...corev1.ContainerStatus) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: objectMeta("web-7d4b9c8f5-x2x9k", 10*time.Minute),
		Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: statuses},
	}
	for _, s := range statuses {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: s.Name, Image: "nginx"})
	}
	return p
}

// withInit adds init containers (spec and status) in front of the pod's.
func withInit(p *corev1.Pod, sidecar map[string]bool, statuses ...corev1.ContainerStatus) *corev1.Pod {
	for _, s := range statuses {
		c := corev1.Container{Name: s.Name, Image: "busybox"}
		if sidecar[s.Name] {
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, c)
	}
	p.Status.InitContainerStatuses = statuses
	return p
}

func TestPodStatus(t *testing.T) {
	crashLooping := status("app", waiting("CrashLoopBackOff"), false)
	crashLooping.RestartCount = 3
	crashLooping.LastTerminationState = lastTerminated(2 * time.Minute)

	restartedNoTime := status("app", running(), true)
	restartedNoTime.RestartCount = 3

	initCrashLooping := status("init-db", waiting("CrashLoopBackOff"), false)
	initCrashLooping.RestartCount = 2
	initCrashLooping.LastTerminationState = lastTerminated(90 * time.Second)

	// A finished init container restarted once; the pod is initialized, so
	// that restart no longer counts.
	initRestartedOnce := status("init-db", terminated("Completed", 0, 0), false)
	initRestartedOnce.RestartCount = 1
	initRestartedOnce.LastTerminationState = lastTerminated(time.Hour)

	sidecarRunning := status("proxy", running(), true)
	sidecarRunning.Started = ptr(true)
	sidecarRunning.RestartCount = 1
	sidecarRunning.LastTerminationState = lastTerminated(5 * time.Minute)

	sidecarStarting := status("proxy", running(), false)
	sidecarStarting.Started = ptr(false)

	deleting := func(p *corev1.Pod) *corev1.Pod {
		p.DeletionTimestamp = ptr(ago(time.Second))
		return p
	}
	withConditions := func(p *corev1.Pod, cs ...corev1.PodCondition) *corev1.Pod {
		p.Status.Conditions = cs
		return p
	}
	withReason := func(p *corev1.Pod, reason string) *corev1.Pod {
		p.Status.Reason = reason
		return p
	}

	tests := []struct {
		name                    string
		pod                     *corev1.Pod
		ready, status, restarts string
	}{
		{"running and ready", pod(corev1.PodRunning, status("app", running(), true)), "1/1", "Running", "0"},
		{"two containers, one ready", pod(corev1.PodRunning, status("app", running(), true), status("log", running(), false)), "1/2", "Running", "0"},
		{"running but not ready stays Running", withConditions(pod(corev1.PodRunning, status("app", running(), false)), cond(corev1.PodReady, corev1.ConditionFalse)), "0/1", "Running", "0"},
		{"pending, no statuses yet", pod(corev1.PodPending), "0/0", "Pending", "0"},
		{"container creating", pod(corev1.PodPending, status("app", waiting("ContainerCreating"), false)), "0/1", "ContainerCreating", "0"},
		{"image pull error", pod(corev1.PodPending, status("app", waiting("ErrImagePull"), false)), "0/1", "ErrImagePull", "0"},
		{"image pull back-off", pod(corev1.PodPending, status("app", waiting("ImagePullBackOff"), false)), "0/1", "ImagePullBackOff", "0"},
		{"crash loop with restarts 2m ago", pod(corev1.PodRunning, crashLooping), "0/1", "CrashLoopBackOff", "3 (2m ago)"},
		{"restarts without a termination time", pod(corev1.PodRunning, restartedNoTime), "1/1", "Running", "3"},
		{"completed", pod(corev1.PodSucceeded, status("app", terminated("Completed", 0, 0), false)), "0/1", "Completed", "0"},
		{"error exit", pod(corev1.PodFailed, status("app", terminated("Error", 1, 0), false)), "0/1", "Error", "0"},
		{"OOM killed", pod(corev1.PodRunning, status("app", terminated("OOMKilled", 137, 0), false)), "0/1", "OOMKilled", "0"},
		{"terminated by signal without reason", pod(corev1.PodFailed, status("app", terminated("", 137, 9), false)), "0/1", "Signal:9", "0"},
		{"terminated by exit code without reason", pod(corev1.PodFailed, status("app", terminated("", 2, 0), false)), "0/1", "ExitCode:2", "0"},
		{"first container's state wins", pod(corev1.PodRunning, status("a", waiting("CrashLoopBackOff"), false), status("b", waiting("ImagePullBackOff"), false)), "0/2", "CrashLoopBackOff", "0"},
		{"one completed, one running, pod ready", withConditions(pod(corev1.PodRunning, status("app", running(), true), status("job", terminated("Completed", 0, 0), false)), cond(corev1.PodReady, corev1.ConditionTrue)), "1/2", "Running", "0"},
		{"one completed, one running, pod not ready", withConditions(pod(corev1.PodRunning, status("app", running(), true), status("job", terminated("Completed", 0, 0), false)), cond(corev1.PodReady, corev1.ConditionFalse)), "1/2", "NotReady", "0"},
		{"evicted", withReason(pod(corev1.PodFailed), "Evicted"), "0/0", "Evicted", "0"},
		{"terminating", deleting(pod(corev1.PodRunning, status("app", running(), true))), "1/1", "Terminating", "0"},
		{"deleted after success stays Completed", deleting(pod(corev1.PodSucceeded, status("app", terminated("Completed", 0, 0), false))), "0/1", "Completed", "0"},
		{"deleted on a lost node", deleting(withReason(pod(corev1.PodRunning, status("app", running(), true)), "NodeLost")), "1/1", "Unknown", "0"},
		{"scheduling gated", withConditions(pod(corev1.PodPending), corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated"}), "0/0", "SchedulingGated", "0"},
		{"unschedulable stays Pending", withConditions(pod(corev1.PodPending), corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"}), "0/0", "Pending", "0"},

		// Init containers.
		{"first init container running", withInit(pod(corev1.PodPending, status("app", waiting("PodInitializing"), false)), nil,
			status("init-db", running(), false), status("init-cache", waiting("PodInitializing"), false)), "0/1", "Init:0/2", "0"},
		{"second init container running", withInit(pod(corev1.PodPending, status("app", waiting("PodInitializing"), false)), nil,
			status("init-db", terminated("Completed", 0, 0), false), status("init-cache", running(), false)), "0/1", "Init:1/2", "0"},
		{"init container crash loop", withInit(pod(corev1.PodPending, status("app", waiting("PodInitializing"), false)), nil,
			initCrashLooping), "0/1", "Init:CrashLoopBackOff", "2 (90s ago)"},
		{"init container failed", withInit(pod(corev1.PodPending, status("app", waiting("PodInitializing"), false)), nil,
			status("init-db", terminated("Error", 1, 0), false)), "0/1", "Init:Error", "0"},
		{"init container killed by signal", withInit(pod(corev1.PodPending, status("app", waiting("PodInitializing"), false)), nil,
			status("init-db", terminated("", 137, 9), false)), "0/1", "Init:Signal:9", "0"},
		{"init container exit code", withInit(pod(corev1.PodPending, status("app", waiting("PodInitializing"), false)), nil,
			status("init-db", terminated("", 3, 0), false)), "0/1", "Init:ExitCode:3", "0"},
		{"init image pull back-off", withInit(pod(corev1.PodPending, status("app", waiting("PodInitializing"), false)), nil,
			status("init-db", waiting("ImagePullBackOff"), false)), "0/1", "Init:ImagePullBackOff", "0"},
		{"init done, app initializing", withInit(pod(corev1.PodPending, status("app", waiting("PodInitializing"), false)), nil,
			status("init-db", terminated("Completed", 0, 0), false)), "0/1", "PodInitializing", "0"},
		{"initialized pod forgets init restarts", withInit(pod(corev1.PodRunning, status("app", running(), true)), nil,
			initRestartedOnce), "1/1", "Running", "0"},

		// Sidecars (restartable init containers) count in READY and RESTARTS.
		{"sidecar and app running", withInit(pod(corev1.PodRunning, status("app", running(), true)), map[string]bool{"proxy": true},
			sidecarRunning), "2/2", "Running", "1 (5m ago)"},
		{"sidecar not started yet", withInit(pod(corev1.PodPending, status("app", waiting("PodInitializing"), false)), map[string]bool{"proxy": true},
			sidecarStarting), "0/2", "Init:0/1", "0"},
	}
	p := mustPrinter(t, "", "pods")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectCells(t, p, tt.pod, map[string]interface{}{
				"Name":     "web-7d4b9c8f5-x2x9k",
				"Ready":    tt.ready,
				"Status":   tt.status,
				"Restarts": tt.restarts,
				"Age":      "10m",
			})
		})
	}
}

// A pod that reports Initialized=True although an init container's status
// shows a failure (the init container was restarted after the pod had been
// initialized) is also judged by its app containers: their waiting or
// terminated reasons win, and the init container's restarts no longer count.
// A running app container has no reason to give, so the init status stays.
func TestPodInitializedConditionLetsAppContainersDecide(t *testing.T) {
	tests := []struct {
		name   string
		app    corev1.ContainerStatus
		ready  string
		status string
	}{
		{"app running", status("app", running(), true), "1/1", "Init:Error"},
		{"app crash looping", status("app", waiting("CrashLoopBackOff"), false), "0/1", "CrashLoopBackOff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failed := status("init-db", terminated("Error", 1, 0), false)
			failed.RestartCount = 4
			failed.LastTerminationState = lastTerminated(time.Minute)
			p := withInit(pod(corev1.PodRunning, tt.app), nil, failed)
			p.Status.Conditions = []corev1.PodCondition{cond(corev1.PodInitialized, corev1.ConditionTrue)}
			expectCells(t, mustPrinter(t, "", "pods"), p, map[string]interface{}{"Ready": tt.ready, "Status": tt.status, "Restarts": "0"})
		})
	}
}

func TestPodRestartsTakeLatestTermination(t *testing.T) {
	a := status("a", running(), true)
	a.RestartCount = 2
	a.LastTerminationState = lastTerminated(time.Hour)
	b := status("b", running(), true)
	b.RestartCount = 5
	b.LastTerminationState = lastTerminated(3 * time.Minute)
	expectCells(t, mustPrinter(t, "", "pods"), pod(corev1.PodRunning, a, b), map[string]interface{}{"Restarts": "7 (3m ago)"})
}

func TestPodWideColumns(t *testing.T) {
	full := pod(corev1.PodRunning, status("app", running(), true))
	full.Spec.NodeName = "minilab-worker"
	full.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb-ready"}, {ConditionType: "example.com/feature"}}
	full.Status.PodIP = "10.244.1.7"
	full.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.7"}, {IP: "fd00:10:244:1::7"}}
	full.Status.NominatedNodeName = "minilab-worker2"
	full.Status.Conditions = []corev1.PodCondition{
		cond("example.com/lb-ready", corev1.ConditionTrue),
		cond("example.com/feature", corev1.ConditionFalse),
	}

	onlyPodIPs := pod(corev1.PodRunning)
	onlyPodIPs.Status.PodIPs = []corev1.PodIP{{IP: "10.244.2.3"}}

	tests := []struct {
		name string
		pod  *corev1.Pod
		want map[string]interface{}
	}{
		{"scheduled with gates", full, map[string]interface{}{"IP": "10.244.1.7", "Node": "minilab-worker", "Nominated Node": "minilab-worker2", "Readiness Gates": "1/2"}},
		{"nothing known yet", pod(corev1.PodPending), map[string]interface{}{"IP": "<none>", "Node": "<none>", "Nominated Node": "<none>", "Readiness Gates": "<none>"}},
		{"only podIPs set", onlyPodIPs, map[string]interface{}{"IP": "10.244.2.3"}},
	}
	p := mustPrinter(t, "", "pods")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectCells(t, p, tt.pod, tt.want) })
	}
}

func TestPodFullRow(t *testing.T) {
	p := pod(corev1.PodRunning, status("hello", running(), true))
	p.Name = "hello-world-5d8b9c6f7-abcde"
	p.CreationTimestamp = ago(3*time.Hour + 5*time.Minute)
	p.Spec.NodeName = "minilab-worker2"
	p.Status.PodIP = "10.244.2.4"
	expectRow(t, mustPrinter(t, "", "pods"), p,
		"hello-world-5d8b9c6f7-abcde", "1/1", "Running", "0", "3h5m", "10.244.2.4", "minilab-worker2", "<none>", "<none>")
}
