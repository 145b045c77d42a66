//! Which tensors the CUDA program stores channel-last, on a ResNet-style block built with FP16:
//! decided from the optimized network alone (no GPU needed).

use kiln_core::builder::{optimize, BuilderConfig};
use kiln_core::dtype::DType;
use kiln_core::layer::*;
use kiln_core::network::Network;
use kiln_core::tensor::Tensor;
use kiln_cpu::CpuBackend;

fn conv(net: &mut Network, name: &str, x: usize, cin: usize, cout: usize, k: usize) -> usize {
    let w = net.add_constant(&format!("{name}.w"), Tensor::from_f32(vec![cout, cin, k, k], vec![0.01; cout * cin * k * k]).unwrap()).unwrap();
    let b = net.add_constant(&format!("{name}.b"), Tensor::from_f32(vec![cout], vec![0.1; cout]).unwrap()).unwrap();
    let kind = LayerKind::Convolution { strides: vec![], pads: vec![k / 2, k / 2, k / 2, k / 2], dilations: vec![], groups: 1, padding_mode: PaddingMode::Explicit, activation: None };
    let y = net.add_layer(name, kind, &[Some(x), Some(w), Some(b)]).unwrap()[0];
    net.add_layer(&format!("{name}.relu"), LayerKind::Activation { activation: ActivationKind::Relu }, &[Some(y)]).unwrap()[0]
}

#[test]
fn fp16_resnet_block_runs_channel_last_between_its_convolutions() {
    let mut net = Network::new();
    let x = net.add_input("x", DType::Float32, &[8, 3, 32, 32]).unwrap();
    let c1 = conv(&mut net, "c1", x, 3, 16, 3);
    let pool = LayerKind::Pooling { pooling: PoolingKind::Max, global: false, kernel_shape: vec![3, 3], strides: vec![2, 2], pads: vec![1, 1, 1, 1], dilations: vec![], ceil_mode: false, padding_mode: PaddingMode::Explicit };
    let p = net.add_layer("pool", pool, &[Some(c1)]).unwrap()[0];
    let c2 = conv(&mut net, "c2", p, 16, 16, 3);
    let sum = net.add_layer("add", LayerKind::ElementWise { op: ElementWiseOp::Add }, &[Some(c2), Some(p)]).unwrap()[0];
    let r = net.add_layer("add.relu", LayerKind::Activation { activation: ActivationKind::Relu }, &[Some(sum)]).unwrap()[0];
    let gap = LayerKind::Pooling { pooling: PoolingKind::Average { count_include_pad: false }, global: true, kernel_shape: vec![], strides: vec![], pads: vec![], dilations: vec![], ceil_mode: false, padding_mode: PaddingMode::Explicit };
    let g = net.add_layer("gap", gap, &[Some(r)]).unwrap()[0];
    let f = net.add_layer("flat", LayerKind::Flatten { axis: 1 }, &[Some(g)]).unwrap()[0];
    net.mark_output(f).unwrap();
    let config = BuilderConfig { fp16: true, ..Default::default() };
    let (body, _) = optimize(&net, &config, &CpuBackend).unwrap();
    let (execs, _) = kiln_cuda::program::plan_layers(&body);
    let nhwc = kiln_cuda::program::channel_last(&body.network, &execs);
    let n = &body.network;
    let mut report = Vec::new();
    for (l, e) in n.layers.iter().zip(&execs) {
        let ins: Vec<String> = l.inputs.iter().flatten().filter(|&&i| n.tensors[i].value.is_none()).map(|&i| format!("{}{}", n.tensors[i].name, if nhwc[i] { "[nhwc]" } else { "" })).collect();
        let outs: Vec<String> = l.outputs.iter().map(|&i| format!("{} {}{}", n.tensors[i].name, n.tensors[i].dtype, if nhwc[i] { "[nhwc]" } else { "" })).collect();
        report.push(format!("{} {:?}: {} -> {}", l.name, e, ins.join(", "), outs.join(", ")));
    }
    let text = report.join("\n");
    eprintln!("{text}");
    let by_name = |name: &str| n.layers.iter().position(|l| l.name == name).unwrap_or_else(|| panic!("no layer {name}\n{text}"));
    for layer in ["c1", "pool", "c2"] {
        let o = n.layers[by_name(layer)].outputs[0];
        assert!(nhwc[o], "{layer}'s output should be channel-last:\n{text}");
    }
    // The flatten reads the global pool's output in NCHW order, so that one stays NCHW.
    let g = n.layers[by_name("gap")].outputs[0];
    assert!(!nhwc[g], "the global pool feeding flatten must stay NCHW:\n{text}");
}
