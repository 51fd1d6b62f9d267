package results

import (
	"strings"
	"testing"
)

func TestParseQEMU(t *testing.T) {
	tests := []struct {
		name    string
		cmd     string
		want    VM
		wantErr string
	}{
		{name: "make bench", cmd: "qemu-system-x86_64 -m 8G -smp 2 -cpu max,la57=off",
			want: VM{Accel: "tcg", Mode: ModeTimed}},
		{name: "counted", cmd: "qemu-system-x86_64 -m 8G -smp 2 -cpu max,la57=off -icount shift=0,sleep=off",
			want: VM{Accel: "tcg", Mode: ModeCounted, ICount: "shift=0,sleep=off"}},
		{name: "double dash", cmd: "qemu-system-x86_64 --icount shift=auto",
			want: VM{Accel: "tcg", Mode: ModeCounted, ICount: "shift=auto"}},
		{name: "accel tcg named", cmd: "qemu-system-x86_64 -accel tcg,thread=single -icount 0",
			want: VM{Accel: "tcg", Mode: ModeCounted, ICount: "0"}},
		{name: "enable-kvm", cmd: "qemu-system-x86_64 -enable-kvm -m 8G",
			want: VM{Accel: "kvm", Mode: ModeTimed}},
		{name: "machine accel=kvm", cmd: "qemu-system-x86_64 -machine q35,accel=kvm:tcg",
			want: VM{Accel: "kvm", Mode: ModeTimed}},
		{name: "accel kvm", cmd: "qemu-system-x86_64 -accel kvm",
			want: VM{Accel: "kvm", Mode: ModeTimed}},
		{name: "a cpu option that mentions neither", cmd: "qemu-system-x86_64 -cpu max,la57=off -machine q35",
			want: VM{Accel: "tcg", Mode: ModeTimed}},
		{name: "icount with kvm", cmd: "qemu-system-x86_64 -enable-kvm -icount shift=0,sleep=off",
			wantErr: "only under TCG"},
		{name: "icount without options", cmd: "qemu-system-x86_64 -icount -m 8G",
			wantErr: "without its options"},
		{name: "icount last", cmd: "qemu-system-x86_64 -icount",
			wantErr: "without its options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQEMU(tt.cmd)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseQEMU(%q) = %+v, %v; want an error with %q", tt.cmd, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseQEMU(%q) = %+v, want %+v", tt.cmd, got, tt.want)
			}
		})
	}
}
