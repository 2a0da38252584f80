/* SPDX-License-Identifier: MIT */
/*
 * main.c - the KVM demo as a program of its own (the vmtime tool runs the
 * same code as `vmtime demo`).
 */
#include "demo.h"

int main(int argc, char **argv)
{
	return kvm_demo_main(argc, argv);
}
