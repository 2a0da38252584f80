/* SPDX-License-Identifier: MIT */
/*
 * demo.h - the KVM demo: boot, pause, resume, snapshot, restore into a new
 * VM, and a stalled timer thread under two missed-tick policies; then a
 * table per phase and the checks that make the demo its own test.
 */
#ifndef KVMPIT_DEMO_H
#define KVMPIT_DEMO_H

#include <stdio.h>

/* Returned by kvm_demo_run() when KVM cannot run a VM here. */
#define KVM_DEMO_UNAVAILABLE 3

/**
 * struct kvm_demo_opts - options of the demo.
 * @scale: multiplies every phase's duration (1.0: 2 s, 1.5 s, 1 s, ...)
 * @json: print the table as JSON instead of text
 * @snapshot: where to write the snapshot file, or NULL for a temporary file
 *	removed at the end
 * @out: where the table goes
 * @progress: where the live progress line goes (NULL: none)
 */
struct kvm_demo_opts {
	double scale;
	int json;
	const char *snapshot;
	const char *listen; /* control socket for `vmtime inspect --connect`, or NULL */
	FILE *out;
	FILE *progress;
};

/**
 * kvm_demo_run() - run the KVM demo.
 * @o: the options
 *
 * Return: 0 if every check passed, 1 if one failed, 2 on an error,
 * KVM_DEMO_UNAVAILABLE (with the reason on stderr) if KVM cannot run a VM.
 */
int kvm_demo_run(const struct kvm_demo_opts *o);

/**
 * kvm_demo_main() - parse the command line and run the demo.
 * @argc: argument count (argv[0] is the command's name)
 * @argv: --duration-scale X, --json, --snapshot PATH, -h
 *
 * Return: as kvm_demo_run(), or 2 for bad usage.
 */
int kvm_demo_main(int argc, char **argv);

#endif /* KVMPIT_DEMO_H */
