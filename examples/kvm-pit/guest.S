/* SPDX-License-Identifier: MIT */
/*
 * guest.S - the test guest: a 16-bit real-mode program that counts PIT ticks.
 *
 * It remaps the 8259 PIC so IRQ0 arrives on vector 0x20, programs PIT
 * channel 0 as a rate generator (mode 2) at 1193182 / 1193 Hz, and then
 * sleeps in hlt.  The IRQ0 handler counts ticks and folds each count into a
 * checksum; the main loop, woken by every interrupt, reads the PIT counter
 * through a latch command, checks that it lies in [1, divisor], and every
 * GUEST_REPORT_EVERY ticks reports ticks, checksum and bad reads on the debug
 * ports.  Every GUEST_RTC_EVERY ticks it reads its wall clock from the CMOS
 * RTC (ports 0x70/0x71) the way a BIOS does, and stores and reports it
 * (guest-abi.h).  There is no BIOS: the VMM starts the vCPU at GUEST_LOAD_ADDR with
 * every segment at 0, and the guest installs its own interrupt vectors.
 *
 * Assembled at build time (cmake/kvm-pit.cmake) into a flat binary.
 */
#include "guest-abi.h"

#define TICKS (GUEST_STATE_ADDR + GUEST_OFF_TICKS)
#define CSUM (GUEST_STATE_ADDR + GUEST_OFF_CSUM)
#define READS (GUEST_STATE_ADDR + GUEST_OFF_READS)
#define BAD (GUEST_STATE_ADDR + GUEST_OFF_BAD)
#define LAST_REPORT (GUEST_STATE_ADDR + 16)
#define RTC (GUEST_STATE_ADDR + GUEST_OFF_RTC)
#define RTC_READS (GUEST_STATE_ADDR + GUEST_OFF_RTC_READS)
#define LAST_RTC (GUEST_STATE_ADDR + 28)

/* MC146818A registers and register A's update-in-progress bit. */
#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define CMOS_SECONDS 0x00
#define CMOS_MINUTES 0x02
#define CMOS_HOURS 0x04
#define CMOS_REG_A 0x0a
#define CMOS_REG_B 0x0b
#define CMOS_A_UIP 0x80

	.code16
	.text
	.globl _start
_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $GUEST_STACK_TOP, %sp
	cld

	movl $0, TICKS
	movl $0, CSUM
	movl $0, READS
	movl $0, BAD
	movl $0, LAST_REPORT
	movl $0, RTC
	movl $0, RTC_READS
	movl $0, LAST_RTC

	/* Vectors 0x20-0x2f: spurious IRQ7/IRQ15 must find an iret. */
	movw $(GUEST_IRQ0_VECTOR * 4), %di
	movw $16, %cx
1:	movw $ignore_irq, (%di)
	movw $0, 2(%di)
	addw $4, %di
	loop 1b
	movw $irq0, (GUEST_IRQ0_VECTOR * 4)

	/* 8259 pair: ICW1 edge + ICW4, ICW2 vector bases, ICW3 cascade on IRQ2, ICW4 8086. */
	movb $0x11, %al
	outb %al, $0x20
	outb %al, $0xa0
	movb $GUEST_IRQ0_VECTOR, %al
	outb %al, $0x21
	movb $(GUEST_IRQ0_VECTOR + 8), %al
	outb %al, $0xa1
	movb $0x04, %al
	outb %al, $0x21
	movb $0x02, %al
	outb %al, $0xa1
	movb $0x01, %al
	outb %al, $0x21
	outb %al, $0xa1
	/* Only IRQ0 unmasked. */
	movb $0xfe, %al
	outb %al, $0x21
	movb $0xff, %al
	outb %al, $0xa1

	/* PIT channel 0, lobyte/hibyte, mode 2, binary. */
	movb $0x34, %al
	outb %al, $0x43
	movb $(GUEST_PIT_DIVISOR & 0xff), %al
	outb %al, $0x40
	movb $(GUEST_PIT_DIVISOR >> 8), %al
	outb %al, $0x40

	sti
main_loop:
	hlt

	/* Latch channel 0 and read it, low byte first. */
	movb $0x00, %al
	outb %al, $0x43
	inb $0x40, %al
	movb %al, %bl
	inb $0x40, %al
	movb %al, %bh
	incl READS
	testw %bx, %bx
	jz bad_read
	cmpw $GUEST_PIT_DIVISOR, %bx
	jbe good_read
bad_read:
	incl BAD
good_read:

	/* Ticks and checksum are read together, or they could disagree. */
	cli
	movl TICKS, %eax
	movl CSUM, %ecx
	sti
	movl %eax, %edx
	subl LAST_REPORT, %edx
	cmpl $GUEST_REPORT_EVERY, %edx
	jb rtc_due
	movl %eax, LAST_REPORT
	movw $GUEST_PORT_TICKS, %dx
	outl %eax, %dx
	movl %ecx, %eax
	movw $GUEST_PORT_CSUM, %dx
	outl %eax, %dx
	movl BAD, %eax
	movw $GUEST_PORT_BAD, %dx
	outl %eax, %dx

rtc_due:
	movl TICKS, %eax
	movl %eax, %edx
	subl LAST_RTC, %edx
	cmpl $GUEST_RTC_EVERY, %edx
	jb main_loop
	movl %eax, LAST_RTC
	call read_rtc
	movl %ebx, RTC
	incl RTC_READS
	movl %ebx, %eax
	movw $GUEST_PORT_RTC, %dx
	outl %eax, %dx
	jmp main_loop

/*
 * Read seconds, minutes, hours and register B into %ebx (guest-abi.h).
 * UIP clear promises 244 us without an update; an interrupt or a slow exit
 * can outlast that, so the seconds are read again at the end and the whole
 * read is retried if they moved (an update changes the seconds whenever it
 * changes anything else).  Interrupts stay enabled: the PIT's ticks go on.
 */
read_rtc:
	pushl %eax
	pushl %ecx
1:	movb $CMOS_REG_A, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	testb $CMOS_A_UIP, %al
	jnz 1b
	xorl %ebx, %ebx
	movb $CMOS_REG_B, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	movb %al, %bl
	shll $8, %ebx
	movb $CMOS_HOURS, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	movb %al, %bl
	shll $8, %ebx
	movb $CMOS_MINUTES, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	movb %al, %bl
	shll $8, %ebx
	movb $CMOS_SECONDS, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	movb %al, %bl
	movb %al, %cl
	movb $CMOS_SECONDS, %al
	outb %al, $CMOS_INDEX
	inb $CMOS_DATA, %al
	cmpb %al, %cl
	jne 1b
	popl %ecx
	popl %eax
	ret

irq0:
	pushl %eax
	incl TICKS
	movl CSUM, %eax
	roll $5, %eax
	xorl TICKS, %eax
	movl %eax, CSUM
	movb $0x20, %al
	outb %al, $0x20
	popl %eax
	iret

ignore_irq:
	iret
