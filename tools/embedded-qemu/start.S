// Bare-metal AArch64 entry for QEMU's `virt` machine (started at EL1 by `-kernel app.elf`):
// enable the FP/SIMD unit (Swift and clang use it freely), set the stack, clear .bss, run main,
// and report main's result to QEMU through semihosting (SYS_EXIT), which ends the emulation.
    .section .text.boot, "ax"
    .global _start
_start:
    mrs     x0, CPACR_EL1
    orr     x0, x0, #(3 << 20)          // FPEN = 0b11: no trapping of FP/SIMD at EL0/EL1
    msr     CPACR_EL1, x0
    isb
    ldr     x0, =__stack_top
    mov     sp, x0
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
1:  cmp     x0, x1
    b.hs    2f
    str     xzr, [x0], #8
    b       1b
2:  bl      main
    bl      semihost_exit
3:  wfi
    b       3b

// The model and the inputs, assembled in from the build directory (`-Wa,-I<dir>`). The model is
// 64-byte aligned so WrenCore reads it in place, as on the host.
    .section .rodata.payload, "a"
    .balign 64
    .global wren_model_bytes, wren_model_end, wren_input_values, wren_input_end
wren_model_bytes:
    .incbin "model.wren"
wren_model_end:
    .balign 64
wren_input_values:
    .incbin "input.f32"
wren_input_end:
