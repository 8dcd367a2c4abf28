/**
 * GMM-40 (SPEC §3): the benchmark of FAB, iDEM, DiKL and the amortized-posterior paper.
 * 40 equal-weight components with per-dimension std `softplus(1)`; the means are those of the
 * reference code (`torch.manual_seed(0); (torch.rand((40, 2)) - 0.5) * 2 * 40`), copied here
 * from `data/gmm40_means_2d.json` at full precision (float32 values written as doubles), so
 * the target needs no file I/O. The 5-D variant keeps these means in the first two coordinates
 * and puts 0 in the other three. Check value: `log p([0, 0]) = -23.31635` in 2-D.
 */
import { GaussianMixture } from './gmm.js';

/** `softplus(1) = log(1 + e)`, the per-dimension standard deviation of every component. */
export const GMM40_STD = 1.3132616875182228;

/** The 40 component means in 2-D. */
export const GMM40_MEANS_2D: ReadonlyArray<readonly [number, number]> = [
  [-0.2994728088378906, 21.457744598388672],
  [-32.92180633544922, -29.43756103515625],
  [-15.406174659729004, 10.72629451751709],
  [-0.7925271987915039, 31.715579986572266],
  [-3.5497617721557617, 10.584502220153809],
  [-12.088522911071777, -7.862615585327148],
  [-38.21393966674805, -26.491283416748047],
  [-16.488924026489258, 1.4817428588867188],
  [15.813407897949219, 24.000911712646484],
  [-27.117643356323242, -17.418514251708984],
  [14.528684616088867, 33.215518951416016],
  [-8.232007026672363, 29.932470321655273],
  [-6.447334289550781, 4.2325639724731445],
  [36.21904754638672, -37.106815338134766],
  [-25.1815185546875, -10.126609802246094],
  [-15.591998100280762, 34.56003189086914],
  [-25.92718505859375, -18.413314819335938],
  [-27.94561767578125, -37.462440490722656],
  [-23.349618911743164, 34.3839225769043],
  [17.848735809326172, 19.38690185546875],
  [2.1036624908447266, -20.507339477539062],
  [6.767387390136719, -37.3477897644043],
  [-28.90264892578125, -20.621200561523438],
  [25.237518310546875, 23.452850341796875],
  [-17.73980140686035, -1.4432954788208008],
  [25.582427978515625, 39.765323638916016],
  [15.875287055969238, 5.403714179992676],
  [26.819454193115234, -23.552093505859375],
  [7.453761100769043, -31.01222038269043],
  [-27.723445892333984, -20.663341522216797],
  [18.098922729492188, 16.086416244506836],
  [-23.69409942626953, 12.084283828735352],
  [21.958881378173828, -5.048694610595703],
  [1.527261734008789, 9.2681884765625],
  [24.8150634765625, 38.40776443481445],
  [-30.82494354248047, -14.65878963470459],
  [15.720396041870117, 33.14197540283203],
  [34.808292388916016, 35.29426956176758],
  [7.9605817794799805, -34.78330612182617],
  [3.6796998977661133, -25.024213790893555],
];

/**
 * GMM-40 in `dim` dimensions (2 or more; the means are padded with zeros beyond the first two).
 * Named `gmm40` in 2-D and `gmm40-<dim>d` otherwise.
 */
export function gmm40(dim = 2): GaussianMixture {
  if (!Number.isInteger(dim) || dim < 2) throw new RangeError(`gmm40: dimension must be an integer >= 2, got ${dim}`);
  const means = GMM40_MEANS_2D.map(([a, b]) => {
    const m = new Float64Array(dim);
    m[0] = a;
    m[1] = b;
    return m;
  });
  return new GaussianMixture({
    name: dim === 2 ? 'gmm40' : `gmm40-${dim}d`,
    means,
    covariance: { std: GMM40_STD },
  });
}

/** GMM-40 in 5-D (SPEC §3). */
export function gmm40_5d(): GaussianMixture {
  return gmm40(5);
}
