import { isH264KeyframeStart } from '../media/h264.js';
import { isVp8KeyframeStart } from '../media/vp8.js';

/** Returns the keyframe test for a codec, or undefined when the codec has no keyframes (audio). */
export function keyframeDetector(mimeType: string): ((payload: Buffer) => boolean) | undefined {
  switch (mimeType.toLowerCase()) {
    case 'video/vp8':
      return isVp8KeyframeStart;
    case 'video/h264':
      return isH264KeyframeStart;
    default:
      return undefined;
  }
}
